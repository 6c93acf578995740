package tailsvc

import (
	"os"
	"testing"

	"github.com/surveybox/surveybox/internal/tailtest"
)

func TestMain(m *testing.M) {
	tailtest.Init() // before any Tailscale code runs (TestTailnetServices)
	os.Exit(m.Run())
}
