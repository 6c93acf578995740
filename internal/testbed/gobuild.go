package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildGoBinary builds a static linux/amd64 binary of the Go package pkg,
// with build tags if any,
// (e.g. "github.com/surveybox/surveybox/cmd/surveyscan" or "./cmd/surveyscan" relative
// to dir) into outDir and returns its path, for Options.Files:
//
//	bin, err := testbed.BuildGoBinary(ctx, t.TempDir(), "github.com/surveybox/surveybox/cmd/surveyscan")
//	opts.Files = map[string]string{"/usr/bin/surveyscan": bin}
func BuildGoBinary(ctx context.Context, outDir, pkg string, tags ...string) (string, error) {
	out := filepath.Join(outDir, filepath.Base(pkg))
	args := []string{"build", "-trimpath", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}
