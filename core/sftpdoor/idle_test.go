package sftpdoor_test

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
)

// TestSilentUploadEndsSession: an SFTP client that stops sending mid-file (no data, no SSH
// keep-alive) has its connection closed after idle_timeout, every read of the SSH connection
// having that deadline; the part received is kept to resume, another client is served
// meanwhile, and the worker is free.
func TestSilentUploadEndsSession(t *testing.T) {
	c := doorDefaults()
	c.IdleTimeout = time.Second
	e := start(t, servertest.Options{SFTP: &c})
	ann := e.user("ann", 0)
	conn, client := e.dial(ann)
	f, err := client.Create("big.bin")
	must(t, err)
	data := randomBytes(1, 100_000)
	if _, err := f.Write(data); err != nil { // each write waits for the server's status
		t.Fatalf("first part of the upload: %v", err)
	}

	bob := e.user("bob", 0)
	bobConn, other := e.dial(bob)
	g, err := other.Create("other.bin")
	must(t, err)
	_, err = io.Copy(g, bytes.NewReader(data))
	must(t, err)
	must(t, g.Close())
	must(t, other.Close())
	bobConn.Close()

	ended := make(chan error, 1)
	go func() { ended <- conn.Wait() }()
	servertest.Await(t, "the server closing the silent connection", ended)
	e.waitIdle(t)
	if got := e.partials("ann"); !slices.Equal(got, []int64{100_000}) {
		t.Fatalf("unfinished uploads of ann: %v; want one of 100000 bytes", got)
	}
	sameBytes(t, e.Home("bob")+"/other.bin", data)
}
