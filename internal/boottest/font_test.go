package boottest

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleFontReadsScreen reads a screen the emulated Pi showed on
// HDMI (a qemu screendump, as PNG) with the pinned kernel's font.
func TestConsoleFontReadsScreen(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gokrazy/kernel.rpi").Output()
	if err != nil {
		t.Fatalf("go list kernel.rpi: %v", err)
	}
	font := kernelFont(t, filepath.Join(strings.TrimSpace(string(out)), "vmlinuz"))
	f, err := os.Open(filepath.Join("testdata", "pi-hdmi.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	screen := font.read(img)
	t.Logf("screen:\n%s", screen)
	for _, w := range []string{
		"surveybox: ======== surveybox banner 2 (uptime 43.2s) ========\n",
		"surveybox: ssh host key (compare with ssh-keygen -l or your ssh client):\n256 SHA256:9nMwdu1wNhA0TgIRJY1Umex8bDcnQOjDJfxyR1puzqU root@pi-box (ED25519)\n",
		"surveybox: clock: NOT SET: no NTP, controlplane.tailscale.com: Head \"https://co?\n",
	} {
		if !strings.Contains(screen, w) {
			t.Errorf("the screen does not read %q", w)
		}
	}
}
