package sshserver

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Identity is an SSH peer as the tailnet knows it (the answer of the
// tailnet node's WhoIs for the connection's remote address).
type Identity struct {
	// Node is the peer's node name, e.g. "alice-laptop".
	Node string
	// Login is the owning user's login name, e.g. "alice@example.com";
	// "tagged-devices" (or anything) for a tagged node, which is then
	// identified by its Tags only.
	Login string
	// Tags are the node's ACL tags, e.g. "tag:surveyops".
	Tags []string
}

func (id Identity) String() string {
	if len(id.Tags) > 0 {
		return fmt.Sprintf("node %s (%s)", id.Node, strings.Join(id.Tags, ","))
	}
	return fmt.Sprintf("node %s (%s)", id.Node, id.Login)
}

// WhoIsFunc asks the tailnet who is at remoteAddr ("100.x.y.z:port", as
// net.Conn.RemoteAddr().String() of a tailnet connection). An error means
// the peer is unknown: it is then not let in by its tailnet identity.
type WhoIsFunc func(ctx context.Context, remoteAddr string) (Identity, error)

// Operators lists who may log in by tailnet identity alone (the "none"
// SSH method). Same shape and rules as config.Operators and the pull API:
// a user login matches only untagged nodes; a tag matches any node that
// carries it. The zero value allows nobody.
type Operators struct {
	Users []string // login names, e.g. alice@example.com
	Tags  []string // ACL tags, e.g. tag:surveyops
}

// taggedLogin is the login name Tailscale's control gives tagged nodes.
const taggedLogin = "tagged-devices"

// Allows reports whether id is an operator.
func (o Operators) Allows(id Identity) bool {
	if id.Login != "" && id.Login != taggedLogin && len(id.Tags) == 0 && slices.Contains(o.Users, id.Login) {
		return true
	}
	for _, t := range id.Tags {
		if slices.Contains(o.Tags, t) {
			return true
		}
	}
	return false
}

func (o Operators) empty() bool { return len(o.Users)+len(o.Tags) == 0 }

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
			return nil, fmt.Errorf("ssh.authorized_keys[%d]: not a public key in authorized_keys form: %v", i, err)
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
