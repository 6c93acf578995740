// Package hostkey keeps the box's ed25519 SSH host key on /perm: made once,
// written atomically, never replaced (an unusable key is reported, not
// overwritten), and described the way OpenSSH's ssh-keygen -l does, so the
// fingerprint on the console can be compared with what an SSH client sees.
package hostkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// DefaultPath is where the box's SSH host key lives: on /perm, so it survives
// reboots and updates (the root file system is replaced by an update).
const DefaultPath = "/perm/surveybox/ssh_host_ed25519_key"

// Key is the box's ed25519 SSH host key. Signer is what an
// x/crypto/ssh server presents (ssh.ServerConfig.AddHostKey(k.Signer)).
type Key struct {
	Path    string
	Signer  ssh.Signer
	Public  ssh.PublicKey
	Comment string // stored in the key file, as OpenSSH does
	Created bool   // generated on this boot
}

// Fingerprint is the line `ssh-keygen -l -f key.pub` prints, e.g.
// "256 SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU root@box (ED25519)".
func (k *Key) Fingerprint() string {
	return fingerprintLine(k.Public, k.Comment)
}

// AuthorizedLine is the public key as in key.pub / known_hosts, without the
// newline: "ssh-ed25519 AAAA... comment".
func (k *Key) AuthorizedLine() string {
	return authorizedLine(k.Public, k.Comment)
}

func authorizedLine(pub ssh.PublicKey, comment string) string {
	s := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pub)), "\n")
	if comment != "" {
		s += " " + comment
	}
	return s
}

// fingerprintLine formats a key as OpenSSH's ssh-keygen -l does: bits,
// SHA256 fingerprint (base64, no padding), the comment or "no comment", and
// the key type in parentheses.
func fingerprintLine(pub ssh.PublicKey, comment string) string {
	if comment == "" {
		comment = "no comment"
	}
	bits, typ := 0, strings.ToUpper(strings.TrimPrefix(pub.Type(), "ssh-"))
	switch pub.Type() {
	case ssh.KeyAlgoED25519:
		bits, typ = 256, "ED25519"
	case ssh.KeyAlgoECDSA256:
		bits, typ = 256, "ECDSA"
	case ssh.KeyAlgoECDSA384:
		bits, typ = 384, "ECDSA"
	case ssh.KeyAlgoECDSA521:
		bits, typ = 521, "ECDSA"
	}
	return fmt.Sprintf("%d %s %s (%s)", bits, ssh.FingerprintSHA256(pub), comment, typ)
}

// UnusableError is a host key file that exists but cannot be used. The file
// is never replaced: a box whose identity silently changed would make the
// operator's known_hosts entry worthless, so a human decides.
type UnusableError struct {
	Path string
	Err  error
}

func (e *UnusableError) Error() string {
	return fmt.Sprintf("SSH host key %s is unusable (%v); NOT replacing it: SSH stays off until it is repaired or removed by hand", e.Path, e.Err)
}

func (e *UnusableError) Unwrap() error { return e.Err }

// LoadOrCreate reads the ed25519 host key at path or, if there is no
// file there at all, generates one (OpenSSH private key format, mode 0600,
// written atomically and never over an existing file) and writes the public
// key next to it as path.pub. An existing file that cannot be read or parsed
// is a *UnusableError and stays untouched.
func LoadOrCreate(path, comment string, rand io.Reader) (*Key, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := parseHostKey(b)
		if err != nil {
			return nil, &UnusableError{Path: path, Err: err}
		}
		k.Path = path
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			// OpenSSH refuses group/world-readable keys; tightening the
			// mode does not change the identity.
			_ = os.Chmod(path, 0o600)
		}
		writePublicKey(k)
		return k, nil
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR):
		// No key: generate one below.
	default:
		return nil, &UnusableError{Path: path, Err: err}
	}

	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, fmt.Errorf("generating the SSH host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encoding the SSH host key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("storing the SSH host key: %w", err)
	}
	if err := writeFileNoReplace(path, pem.EncodeToMemory(block), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another writer won; use what is there.
			return LoadOrCreate(path, comment, rand)
		}
		return nil, fmt.Errorf("storing the SSH host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	k := &Key{Path: path, Signer: signer, Public: signer.PublicKey(), Comment: comment, Created: true}
	writePublicKey(k)
	return k, nil
}

// writePublicKey keeps path.pub in step with the private key. It is derived
// data (not the identity), so it may be replaced; failures only lose a
// convenience.
func writePublicKey(k *Key) {
	want := []byte(k.AuthorizedLine() + "\n")
	pub := k.Path + ".pub"
	if b, err := os.ReadFile(pub); err == nil && bytes.Equal(b, want) {
		return
	}
	tmp, err := writeTemp(filepath.Dir(pub), want, 0o644)
	if err != nil {
		return
	}
	if err := os.Rename(tmp, pub); err != nil {
		os.Remove(tmp)
		return
	}
	syncDir(filepath.Dir(pub))
}

// parseHostKey parses an unencrypted OpenSSH ed25519 private key and its
// comment.
func parseHostKey(b []byte) (*Key, error) {
	raw, err := ssh.ParseRawPrivateKey(b)
	if err != nil {
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, errors.New("it is passphrase-protected")
		}
		return nil, err
	}
	var priv ed25519.PrivateKey
	switch k := raw.(type) {
	case *ed25519.PrivateKey:
		priv = *k
	case ed25519.PrivateKey:
		priv = k
	default:
		return nil, fmt.Errorf("it is a %T, not an ed25519 key", raw)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	comment, err := opensshComment(b)
	if err != nil {
		return nil, err
	}
	return &Key{Signer: signer, Public: signer.PublicKey(), Comment: comment}, nil
}

// opensshComment returns the comment stored in an unencrypted
// "openssh-key-v1" private key (PROTOCOL.key in OpenSSH), which
// x/crypto/ssh parses but does not return.
func opensshComment(pemBytes []byte) (string, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		return "", errors.New("not an OpenSSH private key")
	}
	const magic = "openssh-key-v1\x00"
	if !bytes.HasPrefix(block.Bytes, []byte(magic)) {
		return "", errors.New("not an openssh-key-v1 key")
	}
	var outer struct {
		CipherName   string
		KdfName      string
		KdfOpts      string
		NumKeys      uint32
		PubKey       []byte
		PrivKeyBlock []byte
	}
	if err := ssh.Unmarshal(block.Bytes[len(magic):], &outer); err != nil {
		return "", err
	}
	if outer.CipherName != "none" || outer.NumKeys != 1 {
		return "", fmt.Errorf("unexpected key container (cipher %q, %d keys)", outer.CipherName, outer.NumKeys)
	}
	var priv struct {
		Check1, Check2 uint32
		Keytype        string
		Pub, Priv      []byte
		Comment        string
		Pad            []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(outer.PrivKeyBlock, &priv); err != nil {
		return "", err
	}
	if priv.Keytype != ssh.KeyAlgoED25519 {
		return "", fmt.Errorf("key type %q, want %s", priv.Keytype, ssh.KeyAlgoED25519)
	}
	return priv.Comment, nil
}

// writeFileNoReplace writes a file atomically: a temporary file in the same
// directory, fsync, then renameat2(RENAME_NOREPLACE) so an existing file is
// never replaced (fs.ErrExist), then fsync of the directory so the name is
// durable. The file is either absent or complete, even after a power cut.
func writeFileNoReplace(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := writeTemp(dir, data, mode)
	if err != nil {
		return err
	}
	err = unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// No RENAME_NOREPLACE on this file system: link(2) fails with
		// EEXIST too and is just as atomic.
		if err = os.Link(tmp, path); err == nil {
			os.Remove(tmp)
		}
	}
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
		return err
	}
	return syncDir(dir)
}

// writeTemp writes data to a new temporary file in dir and fsyncs it.
func writeTemp(dir string, data []byte, mode os.FileMode) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(os.Args[0])+"-")
	if err != nil {
		return "", err
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		f.Close()
		os.Remove(name)
		return "", err
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
