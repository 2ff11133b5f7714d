package shell

import (
	"os"

	"golang.org/x/sys/unix"
)

// echoOff reports whether the terminal of the pseudo-terminal's controlling side ptmx has echo
// off (on Linux the controlling side reads the terminal's settings).
func echoOff(ptmx *os.File) (known, off bool) {
	tio, err := unix.IoctlGetTermios(int(ptmx.Fd()), unix.TCGETS)
	if err != nil {
		return false, false
	}
	return true, tio.Lflag&unix.ECHO == 0
}
