package ftpdoor

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAck has the kernel acknowledge at once what the socket has received and what it receives
// next, instead of delaying the acknowledgement.
func quickAck(rc syscall.RawConn) error {
	var err error
	if cerr := rc.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	}); cerr != nil {
		return fmt.Errorf("quick ack: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("quick ack: setsockopt TCP_QUICKACK: %w", err)
	}
	return nil
}
