// Package cachedir names the directory where surveybox caches downloads
// (test VM assets, Debian firmware) and the tools tests build (tailscaled,
// headscale) between runs.
package cachedir

import (
	"os"
	"path/filepath"
)

// Dir returns $SURVEYBOX_CACHE, or $HOME/.cache/surveybox.
func Dir() string {
	if d := os.Getenv("SURVEYBOX_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "/root"
	}
	return filepath.Join(home, ".cache", "surveybox")
}
