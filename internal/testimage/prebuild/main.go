// Command prebuild cross-compiles the image programs for amd64 and arm64,
// exactly as the image tests will (same flags, same cache keys), and throws
// the binaries away, and builds headscale and tailscaled into the cache:
// `make test` runs it before any test, so that no test's deadline includes
// a cold compile. Test support only.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/surveybox/surveybox/internal/headscaletest"
	"github.com/surveybox/surveybox/internal/tailtest"
	"github.com/surveybox/surveybox/internal/testimage"
)

func main() {
	for _, arch := range []string{"amd64", "arm64"} {
		start := time.Now()
		b, err := testimage.New(context.Background(), arch)
		if err != nil {
			fmt.Fprintln(os.Stderr, "prebuild:", err)
			os.Exit(1)
		}
		b.Close()
		fmt.Printf("prebuild: image programs for linux/%s in %.0fs\n", arch, time.Since(start).Seconds())
	}
	// headscale, for the tests against a self-hosted coordination server
	// (cached: built once per pin).
	start := time.Now()
	bin, err := headscaletest.Binary(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
	fmt.Printf("prebuild: %s in %.0fs\n", bin, time.Since(start).Seconds())
	// tailscaled from the pinned tailscale.com, for the tests of surveyctl
	// on a machine that runs Tailscale.
	start = time.Now()
	if bin, err = tailtest.Tailscaled(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "prebuild:", err)
		os.Exit(1)
	}
	fmt.Printf("prebuild: %s in %.0fs\n", bin, time.Since(start).Seconds())
}
