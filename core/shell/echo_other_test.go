//go:build unix && !linux

package shell

import "os"

// echoOff cannot tell the terminal's echo here.
func echoOff(*os.File) (known, off bool) { return false, false }
