package jit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the webhook's signature, in the form
// "t=UNIX,v1=HEX" where HEX is HMAC-SHA256(secret, "UNIX." + body), like
// Stripe's. A receiver recomputes it over the raw body, compares in
// constant time and refuses timestamps outside a few minutes.
const SignatureHeader = "Airlock-Signature"

// DefaultSignatureTolerance is how far from now a signature's timestamp may
// be before VerifyWebhook refuses it as a replay.
const DefaultSignatureTolerance = 5 * time.Minute

// SignWebhook returns the SignatureHeader value for body sent at t.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors VerifyWebhook returns.
var (
	ErrSignatureMissing = errors.New("webhook signature: missing or malformed " + SignatureHeader + " header (want t=UNIX,v1=HEX)")
	ErrSignatureStale   = errors.New("webhook signature: timestamp outside the tolerance (replayed, or the clocks disagree)")
	ErrSignatureInvalid = errors.New("webhook signature: no v1 signature matches the body (wrong secret, or the body was changed)")
)

// VerifyWebhook checks a SignatureHeader value against the raw body: the
// timestamp must be within tolerance of now, and one v1 entry (several are
// allowed, for secret rotation) must equal the HMAC. For Go receivers; the
// README shows the same check in a few lines for others.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(header) > 4096 {
		return ErrSignatureMissing
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureMissing
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrSignatureMissing
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrSignatureMissing
			}
			sigs = append(sigs, b)
		}
		// Other schemes (v0, future versions) are ignored.
	}
	if ts == "" || len(sigs) == 0 {
		return ErrSignatureMissing
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 || strconv.FormatInt(sec, 10) != ts {
		return ErrSignatureMissing
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureStale
	}
	want := webhookMAC(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureInvalid
}
