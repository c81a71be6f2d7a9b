package telemetry

import "strings"

// W3C Trace Context (Level 1/2) bounds on tracestate: at most 32
// list-members; a key at most 256 characters, a value at most 256; and a
// header a platform must propagate only up to 512 characters (longer is
// ignored here, as before).
const (
	maxTraceStateLen     = 512
	maxTraceStateMembers = 32
	maxTraceStateKey     = 256
	maxTraceStateValue   = 256
)

// CleanTraceState returns the tracestate an agent sent in _meta, fit to
// ride on the gateway's spans, or "" for none.
//
// tracestate is vendor-defined free text that the agent controls, and the
// span context carries it onto every span of the call, exported to the
// operator's collector. So:
//
//   - a header that is not well formed per W3C Trace Context — longer than
//     512 bytes, more than 32 list-members, a key or value outside the
//     spec's grammar or lengths, a duplicate key — is dropped whole (the
//     spec lets a participant that cannot parse it discard it, and the
//     OpenTelemetry propagator would);
//   - a well-formed list-member is dropped when its key names a secret
//     (token, session, auth, …) or the masking detectors, all on, find
//     anything in its value (a JWT, an API key, a card number, an email,
//     password=…). The member is dropped, not masked: a rewritten value
//     is of no use to the vendor that wrote it, and dropping members is
//     what the spec allows an intermediary;
//   - the rest is kept, in order, so the agent's tracing vendor can still
//     correlate, as the spec asks.
//
// It is never sent on to targets (http_request sends no trace headers).
func CleanTraceState(s string) string {
	if s == "" || len(s) > maxTraceStateLen {
		return ""
	}
	var kept []string
	seen := map[string]bool{}
	n := 0
	for m := range strings.SplitSeq(s, ",") {
		m = strings.Trim(m, " \t")
		if m == "" {
			continue // empty list-members are allowed and do not count
		}
		if n++; n > maxTraceStateMembers {
			return ""
		}
		k, v, ok := strings.Cut(m, "=")
		if !ok || !validTraceStateKey(k) || !validTraceStateValue(v) || seen[k] {
			return ""
		}
		seen[k] = true
		if sensitiveKey(k) || len(defaultMasker().Find(v)) > 0 {
			continue
		}
		kept = append(kept, m)
	}
	return strings.Join(kept, ",")
}

// validTraceStateKey: simple-key = lcalpha 0*255(lcalpha / DIGIT / "_" /
// "-" / "*" / "/"); multi-tenant-key = tenant-id "@" system-id, tenant-id
// = (lcalpha / DIGIT) 0*240(keychar), system-id = lcalpha 0*13(keychar).
func validTraceStateKey(k string) bool {
	if len(k) == 0 || len(k) > maxTraceStateKey {
		return false
	}
	tenant, system, multi := strings.Cut(k, "@")
	if !multi {
		return isLcalpha(k[0]) && allKeyChars(k[1:])
	}
	return len(tenant) >= 1 && len(tenant) <= 241 && (isLcalpha(tenant[0]) || isDigit(tenant[0])) && allKeyChars(tenant[1:]) &&
		len(system) >= 1 && len(system) <= 14 && isLcalpha(system[0]) && allKeyChars(system[1:])
}

func isLcalpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

func allKeyChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLcalpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '*' && c != '/' {
			return false
		}
	}
	return true
}

// validTraceStateValue: value = 0*255(chr) nblk-chr; chr = %x20 /
// nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E (printable ASCII but
// "," and "="; spaces only inside).
func validTraceStateValue(v string) bool {
	if len(v) == 0 || len(v) > maxTraceStateValue || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
