package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// maxNumericDate is 9999-12-31T23:59:59Z. A later date is not a real
// expiry; it is an attempt at overflow or a token that never expires.
const maxNumericDate = 253402300799

// maxClaimsDepth bounds how deeply the payload may nest.
const maxClaimsDepth = 32

// checkClaims enforces RFC 7519's types on the registered claims of a JWT
// payload, and refuses a payload with duplicated member names (RFC 7519
// §4: a JWT with duplicate claim names must be rejected, or the last one
// wins in one parser and the first in another).
//
// exp, nbf and iat must be NumericDates: JSON numbers (a fraction is legal
// per RFC 7519 §2 and is accepted; go-oidc truncates it to whole seconds)
// between 0 and year 9999. A number written as a string ("1767225600") is
// refused: go-oidc's parser accepts it, which is why this check exists.
// iss, sub and jti must be strings; aud a string or an array of strings.
func checkClaims(payload []byte) error {
	if err := checkNoDuplicates(payload); err != nil {
		return err
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return errors.New("payload is not a JSON object")
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if raw, ok := claims[name]; ok {
			if err := checkNumericDate(raw); err != nil {
				return fmt.Errorf("claim %q: %w", name, err)
			}
		}
	}
	for _, name := range []string{"iss", "sub", "jti"} {
		if raw, ok := claims[name]; ok && !isJSONString(raw) {
			return fmt.Errorf("claim %q: want a string", name)
		}
	}
	if raw, ok := claims["aud"]; ok && !isJSONString(raw) {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil || len(list) == 0 {
			return errors.New(`claim "aud": want a string or a non-empty array of strings`)
		}
		for _, v := range list {
			if !isJSONString(v) {
				return errors.New(`claim "aud": want a string or a non-empty array of strings`)
			}
		}
	}
	return nil
}

func isJSONString(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) >= 2 && raw[0] == '"'
}

// checkNumericDate accepts a JSON number in [0, maxNumericDate].
func checkNumericDate(raw json.RawMessage) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || !(raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return errors.New("want a NumericDate (a JSON number of seconds), not a string, boolean, array, object or null")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("want a NumericDate (a JSON number of seconds)")
	}
	if f < 0 {
		return errors.New("negative NumericDate")
	}
	if f > maxNumericDate {
		return errors.New("NumericDate after year 9999")
	}
	return nil
}

// checkNoDuplicates walks the JSON value with a token decoder and refuses
// any object, at any depth, that names a member twice, and nesting deeper
// than maxClaimsDepth.
func checkNoDuplicates(payload []byte) error {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	type frame struct {
		keys     map[string]struct{}
		object   bool
		wantName bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return errors.New("payload is not valid JSON")
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantName = true
				}
				if len(stack) >= maxClaimsDepth {
					return errors.New("payload nests too deeply")
				}
				stack = append(stack, frame{object: d == '{', wantName: d == '{'})
			case '}', ']':
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantName = true
				}
			}
			continue
		}
		if len(stack) == 0 || !stack[len(stack)-1].object {
			continue
		}
		top := &stack[len(stack)-1]
		if !top.wantName {
			top.wantName = true // that was a member's value
			continue
		}
		name, _ := tok.(string)
		if top.keys == nil {
			top.keys = map[string]struct{}{}
		}
		if _, dup := top.keys[name]; dup {
			return fmt.Errorf("duplicate member %q", truncate(name, 32))
		}
		top.keys[name] = struct{}{}
		top.wantName = false
	}
	return nil
}

// truncate shortens an attacker-chosen string before it is quoted in an
// error.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
