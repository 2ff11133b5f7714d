//go:build unix

package client

import "syscall"

// noPoll is added to the flags of the files and directories opened on the hot paths. The runtime
// offers every file it opens to its poller, switching a blocking one to non-blocking first and
// back when the offer fails, as it does on Linux for regular files and directories: four fcntl
// around the failing epoll_ctl. Opened O_NONBLOCK, which changes nothing for regular files and
// directories, a file costs only the epoll_ctl.
const noPoll = syscall.O_NONBLOCK
