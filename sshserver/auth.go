package sshserver

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// authorizedKey is one parsed line of Config.AuthorizedKeys.
type authorizedKey struct {
	wire    []byte // ssh.PublicKey.Marshal()
	fp      string // SHA256:...
	comment string
}

// parseAuthorizedKeys parses authorized_keys lines. Options ("from=...",
// "command=...") are refused rather than ignored: this server could not
// honour them, and silently widening what a key may do is worse than a
// clear error. Empty lines and # comments are skipped.
func parseAuthorizedKeys(lines []string) ([]authorizedKey, error) {
	var out []authorizedKey
	for i, line := range lines {
		s := strings.TrimSpace(line)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("ssh.authorized_keys[%d]: not a public key in authorized_keys form: %w", i, err)
		}
		if len(options) > 0 {
			return nil, fmt.Errorf("ssh.authorized_keys[%d]: options (%s) are not supported", i, strings.Join(options, ","))
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, fmt.Errorf("ssh.authorized_keys[%d]: one key per entry", i)
		}
		if _, ok := pub.(*ssh.Certificate); ok {
			return nil, fmt.Errorf("ssh.authorized_keys[%d]: certificates are not supported", i)
		}
		out = append(out, authorizedKey{wire: pub.Marshal(), fp: ssh.FingerprintSHA256(pub), comment: comment})
	}
	return out, nil
}

// lookup returns the authorized entry for pub, if any.
func lookup(keys []authorizedKey, pub ssh.PublicKey) (authorizedKey, bool) {
	w := pub.Marshal()
	for _, k := range keys {
		if bytes.Equal(k.wire, w) {
			return k, true
		}
	}
	return authorizedKey{}, false
}
