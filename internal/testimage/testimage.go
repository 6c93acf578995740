// Package testimage builds the appliance's programs once per test binary,
// before any test's clock starts, and assembles images from them for the
// tests that boot or inspect images: cross-compiling the tailnet-sized
// appliance takes minutes on a cold cache, assembling an image seconds.
// Test-only.
package testimage

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/surveybox/surveybox/sdimage"
)

// ConfigPath returns the repository's gokr-packer.json.
func ConfigPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "gokr-packer.json")
}

// Builder makes images of one architecture from programs built once.
type Builder struct {
	Arch     string
	Programs *sdimage.Programs
}

// New cross-compiles the programs for arch (amd64 or arm64). Call it from
// TestMain; Close removes the programs.
func New(ctx context.Context, arch string) (*Builder, error) {
	var log bytes.Buffer
	p, err := sdimage.BuildPrograms(ctx, sdimage.ProgramsOptions{ConfigPath: ConfigPath(), Arch: arch, Log: &log})
	if err != nil {
		return nil, fmt.Errorf("building the %s programs: %w\n%s", arch, err, log.String())
	}
	return &Builder{Arch: arch, Programs: p}, nil
}

// Close removes the programs.
func (b *Builder) Close() error { return b.Programs.Remove() }

// Image assembles an image: o with the repository's config, b's
// architecture and programs, and sdimage.MinSize plus 200 MiB unless o
// gives a size.
func (b *Builder) Image(ctx context.Context, o sdimage.Options) (*sdimage.Result, error) {
	o.ConfigPath, o.Arch, o.Programs = ConfigPath(), b.Arch, b.Programs
	if o.Size == 0 {
		o.Size = sdimage.MinSize + 200<<20
	}
	var log bytes.Buffer
	o.Log = &log
	res, err := sdimage.Build(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, log.String())
	}
	return res, nil
}
