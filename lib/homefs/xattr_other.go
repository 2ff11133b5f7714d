//go:build !linux && !darwin

package homefs

import (
	"errors"
	"os"
)

// errNoTags: this platform's files have no extended attributes that the server uses.
var errNoTags = errors.New("homefs: no extended attributes on this platform")

// getTag reports that f has no extended attribute name: records live in .myftp/sums here.
func getTag(f *os.File, name string) ([]byte, bool) { return nil, false }

// setTag fails: records live in .myftp/sums here.
func setTag(f *os.File, name string, data []byte) error { return errNoTags }
