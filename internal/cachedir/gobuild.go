package cachedir

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// GoBinary returns the program at Dir()/name, building the Go package pkg
// into it first (static, -trimpath, from the module in moduleDir with its
// go.mod and go.sum as they are) when the cache has none. name must say
// everything the binary depends on (versions, Go, platform): a binary
// once built is never rebuilt.
func GoBinary(ctx context.Context, name, moduleDir, pkg string) (string, error) {
	bin := filepath.Join(Dir(), name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s as %s: %w\n%s", pkg, name, err, out)
	}
	return bin, os.Rename(tmp, bin)
}
