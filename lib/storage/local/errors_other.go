//go:build !windows

package local

import "syscall"

// dirNotEmpty is the error of removing a directory that is not empty.
const dirNotEmpty = syscall.ENOTEMPTY
