package tailnet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"tailscale.com/client/tailscale/apitype"
)

// WhoIser is what *local.Client (tsnet.Server.LocalClient) provides.
type WhoIser interface {
	WhoIs(ctx context.Context, remoteAddr string) (*apitype.WhoIsResponse, error)
}

// Identity is a caller as the tailnet knows it.
type Identity struct {
	// Node is the node's short MagicDNS name (first label of its name),
	// e.g. "acme-box-1".
	Node string
	// Login is the owning user's login name; "tagged-devices" for a
	// tagged node, which is then identified by its Tags only.
	Login string
	Tags  []string
}

func (id Identity) String() string {
	if len(id.Tags) > 0 {
		return fmt.Sprintf("node %s (%s)", id.Node, strings.Join(id.Tags, ","))
	}
	return fmt.Sprintf("node %s (%s)", id.Node, id.Login)
}

// TaggedLogin is the login name control gives tagged nodes.
const TaggedLogin = "tagged-devices"

// ErrUnknownPeer: WhoIs could not identify the caller.
var ErrUnknownPeer = errors.New("caller is not a known tailnet peer")

// Identify asks w who is at remoteAddr.
func Identify(ctx context.Context, w WhoIser, remoteAddr string) (Identity, error) {
	if w == nil {
		return Identity{}, fmt.Errorf("%w: no WhoIs source", ErrUnknownPeer)
	}
	who, err := w.WhoIs(ctx, remoteAddr)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %s: %w", ErrUnknownPeer, remoteAddr, err)
	}
	if who == nil || who.Node == nil {
		return Identity{}, fmt.Errorf("%w: %s", ErrUnknownPeer, remoteAddr)
	}
	id := Identity{Tags: slices.Clone(who.Node.Tags)}
	if who.UserProfile != nil {
		id.Login = who.UserProfile.LoginName
	}
	name := strings.TrimSuffix(who.Node.Name, ".")
	if name == "" {
		name = who.Node.ComputedName
	}
	if name == "" && who.Node.Hostinfo.Valid() {
		name = who.Node.Hostinfo.Hostname()
	}
	id.Node, _, _ = strings.Cut(name, ".")
	if id.Node == "" {
		return Identity{}, fmt.Errorf("%w: %s has no node name", ErrUnknownPeer, remoteAddr)
	}
	return id, nil
}

// Policy lists who is allowed. The zero Policy allows nobody.
type Policy struct {
	// Users are login names: alice@example.com on Tailscale; a headscale
	// user without an email logs in under the bare name (ops), which
	// headscale's own policy files spell ops@: both forms match it.
	Users []string
	Tags  []string // ACL tags, e.g. tag:surveyops
	Nodes []string // node names (short MagicDNS names)
}

// Empty reports whether the policy allows nobody.
func (p Policy) Empty() bool { return len(p.Users)+len(p.Tags)+len(p.Nodes) == 0 }

// Allows reports whether id matches the policy: a user login (never for
// tagged nodes), any of its tags, or its node name.
func (p Policy) Allows(id Identity) bool {
	if id.Login != "" && id.Login != TaggedLogin && len(id.Tags) == 0 &&
		slices.ContainsFunc(p.Users, func(u string) bool { return u == id.Login || strings.TrimSuffix(u, "@") == id.Login }) {
		return true
	}
	for _, t := range id.Tags {
		if slices.Contains(p.Tags, t) {
			return true
		}
	}
	return id.Node != "" && slices.ContainsFunc(p.Nodes, func(n string) bool { return strings.EqualFold(n, id.Node) })
}

// ParseList splits a comma-separated allow list into a Policy (see
// PolicyOf).
func ParseList(s string) (Policy, error) { return PolicyOf(strings.Split(s, ",")) }

// PolicyOf makes a Policy of entries: "tag:NAME" is a tag, "user:NAME" a
// user of any login form (user:ops for a headscale user without an email),
// an entry with "@" a user, anything else a node name. Empty entries are
// skipped.
func PolicyOf(entries []string) (Policy, error) {
	var p Policy
	for _, f := range entries {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case strings.HasPrefix(f, "tag:"):
			if len(f) == len("tag:") {
				return p, fmt.Errorf("empty tag in %q", entries)
			}
			p.Tags = append(p.Tags, f)
		case strings.HasPrefix(f, "user:"):
			if len(f) == len("user:") {
				return p, fmt.Errorf("empty user in %q", entries)
			}
			p.Users = append(p.Users, strings.TrimPrefix(f, "user:"))
		case strings.Contains(f, "@"):
			p.Users = append(p.Users, f)
		default:
			p.Nodes = append(p.Nodes, f)
		}
	}
	return p, nil
}

type ctxKey struct{}

// FromContext returns the identity Middleware stored for the request.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// Middleware answers 403 to callers the policy does not allow (and to
// callers WhoIs cannot identify) and passes the others to next with their
// Identity in the request context. deny, if not nil, is told of refusals.
func Middleware(w WhoIser, p Policy, deny func(r *http.Request, id Identity, err error), next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id, err := Identify(r.Context(), w, r.RemoteAddr)
		if err == nil && !p.Allows(id) {
			err = fmt.Errorf("%v is not allowed", id)
		}
		if err != nil {
			if deny != nil {
				deny(r, id, err)
			}
			http.Error(rw, "forbidden: "+err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}
