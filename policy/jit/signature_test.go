package jit

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airlockhq/airlock/store"
)

var testSecret = []byte("whsec-0123456789abcdef0123456789")

func TestVerifyWebhook(t *testing.T) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"event":"request.created"}`)
	good := SignWebhook(testSecret, now, body)
	mac := good[strings.Index(good, "v1=")+3:]
	ts := strconv.FormatInt(now.Unix(), 10)
	other := SignWebhook([]byte("another secret of some length"), now, body)
	cases := []struct {
		name, header string
		body         []byte
		at           time.Time
		want         error
	}{
		{"valid", good, body, now, nil},
		{"valid a little later", good, body, now.Add(4 * time.Minute), nil},
		{"valid with rotation", other + ",v1=" + mac, body, now, nil},
		{"valid with spaces and unknown scheme", "t=" + ts + ", v0=zz, v1=" + mac, body, now, nil},
		{"modified body", good, []byte(`{"event":"request.approved"}`), now, ErrSignatureInvalid},
		{"body with a trailing newline", good, append(body, '\n'), now, ErrSignatureInvalid},
		{"wrong secret", other, body, now, ErrSignatureInvalid},
		{"old timestamp", good, body, now.Add(6 * time.Minute), ErrSignatureStale},
		{"future timestamp", good, body, now.Add(-6 * time.Minute), ErrSignatureStale},
		{"timestamp changed", "t=" + strconv.FormatInt(now.Unix()+1, 10) + ",v1=" + mac, body, now, ErrSignatureInvalid},
		{"empty", "", body, now, ErrSignatureMissing},
		{"no t", "v1=" + mac, body, now, ErrSignatureMissing},
		{"no v1", "t=" + ts, body, now, ErrSignatureMissing},
		{"two t", "t=" + ts + ",t=" + ts + ",v1=" + mac, body, now, ErrSignatureMissing},
		{"t not a number", "t=abc,v1=" + mac, body, now, ErrSignatureMissing},
		{"t with sign", "t=+" + ts + ",v1=" + mac, body, now, ErrSignatureMissing},
		{"t negative", "t=-5,v1=" + mac, body, now, ErrSignatureMissing},
		{"t huge", "t=99999999999999999999,v1=" + mac, body, now, ErrSignatureMissing},
		{"v1 not hex", "t=" + ts + ",v1=xyz", body, now, ErrSignatureMissing},
		{"v1 short", "t=" + ts + ",v1=" + mac[:32], body, now, ErrSignatureMissing},
		{"no equals", "t" + ts, body, now, ErrSignatureMissing},
		{"too long", good + strings.Repeat(",x=y", 2000), body, now, ErrSignatureMissing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyWebhook(testSecret, tc.header, tc.body, tc.at, DefaultSignatureTolerance); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// readmeVerify is the README's receiver snippet, written without this
// package: the header format is a contract with code we do not ship.
func readmeVerify(secret []byte, header string, body []byte, now time.Time) bool {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	want := hex.EncodeToString(m.Sum(nil))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return true
		}
	}
	return false
}

// The poster signs every POST, including retries, so that a receiver
// holding the secret accepts it and refuses anything altered.
func TestWebhookPostsAreSigned(t *testing.T) {
	type got struct {
		header string
		body   []byte
	}
	posts := make(chan got, 10)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posts <- got{r.Header.Get(SignatureHeader), b}
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // make it retry
		}
	}))
	defer srv.Close()
	w := NewWebhook(srv.URL, testSecret, nil)
	w.backoff = 10 * time.Millisecond
	defer w.Close()
	w.Publish(context.Background(), Event{Type: EventRequestCreated, Time: time.Now(),
		Request: &store.Request{ID: "req-1", Kind: store.KindGrant, Subject: "carol", Connection: "db", Access: "read"}})
	for i := range 2 {
		var p got
		select {
		case p = <-posts:
		case <-time.After(5 * time.Second):
			t.Fatalf("post %d never arrived", i)
		}
		if !readmeVerify(testSecret, p.header, p.body, time.Now()) {
			t.Fatalf("post %d: the README's receiver refuses %q", i, p.header)
		}
		if err := VerifyWebhook(testSecret, p.header, p.body, time.Now(), DefaultSignatureTolerance); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		altered := []byte(strings.Replace(string(p.body), "carol", "mallory", 1))
		if readmeVerify(testSecret, p.header, altered, time.Now()) || VerifyWebhook(testSecret, p.header, altered, time.Now(), DefaultSignatureTolerance) == nil {
			t.Fatal("an altered body verifies")
		}
		later := time.Now().Add(10 * time.Minute)
		if readmeVerify(testSecret, p.header, p.body, later) || VerifyWebhook(testSecret, p.header, p.body, later, DefaultSignatureTolerance) == nil {
			t.Fatal("a replay ten minutes later verifies")
		}
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	now := time.Unix(1767225600, 0)
	body := []byte(`{"a":1}`)
	f.Add(SignWebhook(testSecret, now, body), body)
	f.Add("t=1,v1=00", []byte{})
	f.Add("t=1767225600,v1=", []byte("x"))
	f.Fuzz(func(t *testing.T, header string, b []byte) {
		err := VerifyWebhook(testSecret, header, b, now, DefaultSignatureTolerance)
		if err == nil && !readmeVerify(testSecret, header, b, now) {
			t.Fatalf("accepted %q over %q, but an independent check refuses it", header, b)
		}
	})
}

func BenchmarkVerifyWebhook(b *testing.B) {
	now := time.Now()
	body := []byte(strings.Repeat(`{"event":"request.created","text":"x"}`, 20))
	h := SignWebhook(testSecret, now, body)
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyWebhook(testSecret, h, body, now, DefaultSignatureTolerance); err != nil {
			b.Fatal(err)
		}
	}
}
