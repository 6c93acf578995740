//go:build surveybox_pins

package sdimage

// This file is never compiled. It keeps the modules that `surveyctl image`
// resolves at run time (with `go mod download` and `go build`) required in
// go.mod with their go.sum entries, so `go mod tidy` does not drop them and
// image builds stay reproducible.

import (
	_ "github.com/gokrazy/firmware"
	_ "github.com/gokrazy/gokrazy"
	_ "github.com/gokrazy/gokrazy/cmd/dhcp"
	_ "github.com/gokrazy/gokrazy/cmd/heartbeat"
	_ "github.com/gokrazy/gokrazy/cmd/ntp"
	_ "github.com/gokrazy/gokrazy/cmd/randomd"
	_ "github.com/gokrazy/kernel.amd64"
	_ "github.com/gokrazy/kernel.arm64"
	_ "github.com/gokrazy/kernel.rpi"
	_ "github.com/gokrazy/rpi-eeprom"
)
