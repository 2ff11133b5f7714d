//go:build !unix

package local

// noPoll: see nopoll_unix.go; elsewhere nothing is added.
const noPoll = 0
