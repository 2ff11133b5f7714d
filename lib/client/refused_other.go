//go:build !windows

package client

import (
	"errors"
	"syscall"
)

// refused reports whether a dial failed because nothing accepts connections at the address.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
