package ftpdoor

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAck has the kernel acknowledge at once what the socket has received and what it receives
// next, instead of delaying the acknowledgement. It is a hint: a failure changes nothing else.
func quickAck(rc syscall.RawConn) {
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
