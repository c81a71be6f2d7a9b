package suite

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"golang.org/x/net/dns/dnsmessage"
)

// The rebinding names the eval's DNS server answers. While the gateway
// starts they all resolve to the API (127.0.0.1); once it is up they are
// rebound towards the rebinding honeypot on 127.0.0.2, on the API's port:
//
//   - flip: A 127.0.0.2 only;
//   - mapped: AAAA ::ffff:127.0.0.2 only (IPv4-mapped IPv6);
//   - mixed: A 127.0.0.2 first, then the API's 127.0.0.1.
const (
	rebindFlip   = "flip.rebind.test"
	rebindMapped = "mapped.rebind.test"
	rebindMixed  = "mixed.rebind.test"
)

var (
	apiAddr    = netip.MustParseAddr("127.0.0.1")
	rebindAddr = netip.MustParseAddr("127.0.0.2")
)

// dnsServer is a loopback DNS server over UDP for the rebinding cases.
type dnsServer struct {
	conn    net.PacketConn
	rebound atomic.Bool
}

func startDNS() (*dnsServer, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &dnsServer{conn: pc}
	go s.serve()
	return s, nil
}

func (s *dnsServer) addr() string { return s.conn.LocalAddr().String() }

func (s *dnsServer) close() { s.conn.Close() }

// serve answers until the socket closes. Each datagram is one query.
func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, ok := s.answer(buf[:n]); ok {
			s.conn.WriteTo(out, from)
		}
	}
}

// answer builds the response to one query; malformed queries are dropped.
func (s *dnsServer) answer(q []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, false
	}
	question, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := strings.TrimSuffix(strings.ToLower(question.Name.String()), ".")
	rcode := dnsmessage.RCodeSuccess
	addrs, known := s.addrs(name)
	if !known {
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(question) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	for _, a := range addrs {
		rh := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 0}
		switch {
		case question.Type == dnsmessage.TypeA && a.Is4():
			if b.AResource(rh, dnsmessage.AResource{A: a.As4()}) != nil {
				return nil, false
			}
		case question.Type == dnsmessage.TypeAAAA && a.Is6():
			if b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()}) != nil {
				return nil, false
			}
		}
	}
	out, err := b.Finish()
	return out, err == nil
}

// addrs are the addresses name stands for now (both families; answer
// picks those of the asked type).
func (s *dnsServer) addrs(name string) ([]netip.Addr, bool) {
	switch name {
	case rebindFlip, rebindMapped, rebindMixed:
	default:
		return nil, false
	}
	if !s.rebound.Load() {
		return []netip.Addr{apiAddr}, true
	}
	switch name {
	case rebindFlip:
		return []netip.Addr{rebindAddr}, true
	case rebindMapped:
		return []netip.Addr{netip.AddrFrom16(rebindAddr.As16())}, true
	default:
		return []netip.Addr{rebindAddr, apiAddr}, true
	}
}
