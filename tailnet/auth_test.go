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
