//go:build !linux && !darwin

package local

import (
	"errors"
	"os"
)

// errNoTags: this platform's files have no extended attributes that the server uses.
var errNoTags = errors.New("local: no extended attributes on this platform")

// GetTag reports that f has no extended attribute name: records live in files here.
func GetTag(f *os.File, name string) ([]byte, bool) { return nil, false }

// SetTag fails: records live in files here.
func SetTag(f *os.File, name string, data []byte) error { return errNoTags }
