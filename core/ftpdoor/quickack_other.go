//go:build !linux

package ftpdoor

import "syscall"

// quickAck does nothing here: only Linux lets a socket acknowledge at once on demand.
func quickAck(syscall.RawConn) error { return nil }
