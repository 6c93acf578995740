package hostkey

// These tests run OpenSSH's ssh-keygen (Debian package openssh-client) and
// fail, not skip, without it: the fingerprint must be exactly what OpenSSH
// prints.

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sshKeygen(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Fatalf("ssh-keygen not found (apt-get install openssh-client): %v", err)
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen %q: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestHostKeyGenerateMatchesOpenSSH(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "surveybox", "ssh_host_ed25519_key")
	k, err := LoadOrCreate(path, "root@box-1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Created {
		t.Error("Created = false for a new key")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if !strings.HasPrefix(k.Fingerprint(), "256 SHA256:") || !strings.HasSuffix(k.Fingerprint(), " root@box-1 (ED25519)") {
		t.Errorf("Fingerprint() = %q", k.Fingerprint())
	}

	// The public key line, fed to ssh-keygen -l from a file of its own (as
	// the boot test does with the line read off the console).
	pubFile := filepath.Join(dir, "from-banner.pub")
	if err := os.WriteFile(pubFile, []byte(k.AuthorizedLine()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := sshKeygen(t, "-l", "-f", pubFile); got != k.Fingerprint() {
		t.Errorf("ssh-keygen -l -f pub:\n got %q\nwant %q (banner)", got, k.Fingerprint())
	}
	// OpenSSH reads our private key file (format, mode) and derives the
	// same public key and comment from it.
	if got := sshKeygen(t, "-y", "-f", path); got != k.AuthorizedLine() {
		t.Errorf("ssh-keygen -y -f key:\n got %q\nwant %q", got, k.AuthorizedLine())
	}
	// key.pub was written next to the key, as OpenSSH lays them out.
	if got := sshKeygen(t, "-l", "-f", path+".pub"); got != k.Fingerprint() {
		t.Errorf("ssh-keygen -l -f key.pub = %q, want %q", got, k.Fingerprint())
	}
	// No temporary files left behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("key directory holds %q, want the key and key.pub", names)
	}
}

func TestHostKeyPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	k1, err := LoadOrCreate(path, "root@box-1", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	os.Remove(path + ".pub") // derived: recreated
	// A later boot, with another hostname: same key, original comment.
	k2, err := LoadOrCreate(path, "root@renamed", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Created {
		t.Error("second boot generated a key")
	}
	if k1.Fingerprint() != k2.Fingerprint() || k2.AuthorizedLine() != k1.AuthorizedLine() {
		t.Errorf("second boot: %q, first %q", k2.Fingerprint(), k1.Fingerprint())
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("the key file changed")
	}
	if got := sshKeygen(t, "-l", "-f", path+".pub"); got != k1.Fingerprint() {
		t.Errorf("recreated key.pub: %q", got)
	}
	if string(k2.Signer.PublicKey().Marshal()) != string(k1.Public.Marshal()) {
		t.Error("the signer does not match the public key")
	}
}

func TestHostKeyFromOpenSSH(t *testing.T) {
	// A key OpenSSH generated (e.g. put on /perm by hand) is used as is,
	// with its own comment.
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "", "-C", "op@laptop", "-f", path)
	want := sshKeygen(t, "-l", "-f", path)
	os.Remove(path + ".pub")
	k, err := LoadOrCreate(path, "root@box", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if k.Created || k.Fingerprint() != want || k.Comment != "op@laptop" {
		t.Errorf("got %q (created %v), want %q", k.Fingerprint(), k.Created, want)
	}
}

func TestHostKeyUnusableIsNotReplaced(t *testing.T) {
	rsa := filepath.Join(t.TempDir(), "rsa")
	sshKeygen(t, "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa)
	rsaKey, _ := os.ReadFile(rsa)
	locked := filepath.Join(t.TempDir(), "locked")
	sshKeygen(t, "-q", "-t", "ed25519", "-N", "secret", "-f", locked)
	lockedKey, _ := os.ReadFile(locked)
	good, err := LoadOrCreate(filepath.Join(t.TempDir(), "k"), "c", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	goodKey, _ := os.ReadFile(good.Path)
	truncated := goodKey[:len(goodKey)/2]

	for _, tt := range []struct {
		name    string
		content []byte // nil: a directory is in the way
		want    string
	}{
		{"garbage", []byte("not a key\n"), "no key found"},
		{"empty", []byte{}, "no key found"},
		{"truncated", truncated, ""},
		{"rsa", rsaKey, "not an ed25519 key"},
		{"passphrase", lockedKey, "passphrase-protected"},
		{"directory", nil, "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
			if tt.content == nil {
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := LoadOrCreate(path, "root@box", rand.Reader)
			var he *UnusableError
			if !errors.As(err, &he) {
				t.Fatalf("got key %v, err %v; want a *UnusableError", k, err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "NOT replacing") || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q lacks %q, the path or NOT replacing", err, tt.want)
			}
			if tt.content != nil {
				if b, _ := os.ReadFile(path); !bytes.Equal(b, tt.content) {
					t.Error("the file was changed")
				}
			}
			if _, err := os.Stat(path + ".pub"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("key.pub written for an unusable key: %v", err)
			}
		})
	}
}

func TestWriteFileNoReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := writeFileNoReplace(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileNoReplace(p, []byte("two"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Errorf("content %q, want one", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("%d entries, want 1 (no temporary files left)", len(ents))
	}
	if err := writeFileNoReplace(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func TestHostKeyReadOnlyPerm(t *testing.T) {
	// /perm not writable: a file where the key's directory should be
	// (root ignores directory permissions, and EROFS needs a mount).
	base := filepath.Join(t.TempDir(), "perm")
	if err := os.WriteFile(base, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreate(filepath.Join(base, "surveybox", "k"), "c", rand.Reader)
	var he *UnusableError
	if err == nil || errors.As(err, &he) {
		t.Fatalf("err = %v, want a plain storage error", err)
	}
}
