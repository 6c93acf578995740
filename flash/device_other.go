//go:build !linux && !darwin

package flash

import (
	"context"
	"fmt"
	"os"
	"runtime"
)

func unsupported() error {
	return fmt.Errorf("surveyctl flash works on Linux and macOS, not on %s: write the image with a tool such as Raspberry Pi Imager (/perm then keeps the image's size)", runtime.GOOS)
}

func inspect(context.Context, string) (*Device, error) { return nil, unsupported() }

func openDevice(*Device) (*os.File, error) { return nil, unsupported() }

func flushDevice(*os.File) error { return unsupported() }

func rereadPartitions(*os.File) error { return unsupported() }
