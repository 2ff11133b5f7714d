//go:build unix

package client

import "syscall"

// noPoll is added to the flags of the files and directories opened on the hot paths. Opened
// O_NONBLOCK, which changes nothing for regular files and directories, a file is not offered to
// the runtime's poller: on Linux that offer costs four fcntl and an epoll_ctl that fails, for
// every file opened, a tenth of the system calls of a small transfer.
const noPoll = syscall.O_NONBLOCK
