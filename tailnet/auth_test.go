package tailnet

import "testing"

func TestPolicy(t *testing.T) {
	p, err := ParseList("tag:surveybox, acme-box-1,alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   Identity
		want bool
	}{
		{Identity{Node: "x", Login: TaggedLogin, Tags: []string{"tag:surveybox"}}, true},
		{Identity{Node: "x", Login: TaggedLogin, Tags: []string{"tag:other"}}, false},
		{Identity{Node: "ACME-box-1", Login: "bob@example.com"}, true},
		{Identity{Node: "laptop", Login: "alice@example.com"}, true},
		// A tagged node is not its creator's user.
		{Identity{Node: "laptop", Login: "alice@example.com", Tags: []string{"tag:other"}}, false},
		{Identity{Node: "laptop", Login: "mallory@example.com"}, false},
	} {
		if got := p.Allows(c.id); got != c.want {
			t.Errorf("Allows(%+v) = %v, want %v", c.id, got, c.want)
		}
	}
	if (Policy{}).Allows(Identity{Node: "x", Login: "a@b"}) {
		t.Error("the zero policy allowed someone")
	}
	if _, err := ParseList("tag:"); err == nil {
		t.Error("empty tag accepted")
	}
}

// TestHeadscaleNames: a headscale user without an email logs in under its
// bare name; "user:NAME" names it in an allow list (a bare word is a node
// name), and headscale's own policy spelling "NAME@" matches it too.
func TestHeadscaleNames(t *testing.T) {
	p, err := ParseList("user:ops, ops-laptop")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Users) != 1 || p.Users[0] != "ops" || len(p.Nodes) != 1 {
		t.Fatalf("ParseList: %+v", p)
	}
	ops := Identity{Node: "phone", Login: "ops"}
	if !p.Allows(ops) {
		t.Error("user:ops does not match login ops")
	}
	if !(Policy{Users: []string{"ops@"}}).Allows(ops) {
		t.Error(`"ops@" does not match login ops`)
	}
	if (Policy{Users: []string{"ops@"}}).Allows(Identity{Node: "x", Login: "ops@example.com"}) {
		t.Error(`"ops@" matched ops@example.com`)
	}
	if _, err := ParseList("user:"); err == nil {
		t.Error("empty user accepted")
	}
}
