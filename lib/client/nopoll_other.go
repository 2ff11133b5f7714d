//go:build !unix

package client

// noPoll: see nopoll_unix.go; elsewhere nothing is added.
const noPoll = 0
