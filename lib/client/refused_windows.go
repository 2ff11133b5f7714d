package client

import (
	"errors"
	"syscall"
)

// wsaeconnrefused is Winsock's "connection refused", which syscall.ECONNREFUSED is not.
const wsaeconnrefused syscall.Errno = 10061

// refused reports whether a dial failed because nothing accepts connections at the address.
func refused(err error) bool {
	return errors.Is(err, wsaeconnrefused) || errors.Is(err, syscall.ECONNREFUSED)
}
