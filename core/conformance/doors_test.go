package conformance_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// session is what a user does through a door, with the client program users run. Each call is
// a session of its own (a login, the command, the end), as one curl or sftp run is. Local names
// are in the session's local directory; remote names are relative to the home's top. An error is
// what the user saw: a refusal, or the client's failure with its output.
type session interface {
	put(local, remote string) error
	// putCut starts uploading local to remote, at rate bytes a second at most where the client
	// can be slowed down, and cuts it (a killed client, or a cancelled one) once held reports
	// that the server holds part of it; during runs while the upload is still in flight.
	putCut(local, remote string, rate int64, held func() bool, during func())
	// reput continues the interrupted upload of local to remote.
	reput(local, remote string) error
	get(remote, local string) error
	// reget continues the download of remote into local, which holds its first prefix bytes as
	// an interrupted download leaves them.
	reget(remote, local string, prefix []byte) error
	list(dir string) ([]string, error)
	mkdir(dir string) error
	rename(from, to string) error
}

// door is a door of the server and how the suite reaches it.
type door struct {
	name string
	open func(t *testing.T, e *env, user, local string) session
	// quota is what the user sees when an upload passes the quota.
	quota string
	// tooMany is what the user sees when a directory rename is refused for holding more entries
	// than the backend renames in one step (S3's max_rename_objects).
	tooMany string
	// jail tries the door's escaping names (jail_test.go).
	jail func(t *testing.T, j *jail)
}

var doors = []door{
	{name: "native", open: openNative, quota: "552 quota exceeded",
		tooMany: "holds too many files to be renamed on this server's storage", jail: nativeJail},
	{name: "ftp", open: openFTP, quota: "552 ",
		tooMany: "holds too many files to be renamed on this server's storage", jail: ftpJail},
	// OpenSSH's sftp prints the status code's name, not the server's message (which pkg/sftp's
	// client shows): "Failure" for the quota, "Permission denied" for the rename.
	{name: "sftp", open: openSFTP, quota: "Failure", tooMany: "Permission denied", jail: sftpJail},
}

// native drives the native door with package client, as myftpc does.
type native struct {
	t     *testing.T
	e     *env
	user  string
	local string
}

func openNative(t *testing.T, e *env, user, local string) session {
	return &native{t: t, e: e, user: user, local: local}
}

// with runs f on a new logged-in session.
func (n *native) with(f func(c *client.Client) error) error {
	c, err := client.Dial(context.Background(), n.e.ClientConfig())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(n.user, n.user+"-pw"); err != nil {
		return err
	}
	return f(c)
}

func (n *native) path(name string) string { return filepath.Join(n.local, name) }

func (n *native) put(local, remote string) error {
	return n.with(func(c *client.Client) error {
		_, err := c.Put(context.Background(), n.path(local), remote, client.Options{})
		return err
	})
}

// putCut cancels the put, as Ctrl-C in myftpc does, once the server holds part of the file.
func (n *native) putCut(local, remote string, _ int64, held func() bool, during func()) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	progress := func(done, total int64) {
		if done < total/2 {
			return
		}
		once.Do(func() {
			if !servertest.WaitFor(20*time.Second, held) {
				n.t.Errorf("the server never held part of the upload")
			}
			during()
			cancel()
		})
	}
	err := n.with(func(c *client.Client) error {
		_, err := c.Put(ctx, n.path(local), remote, client.Options{Progress: progress})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		n.t.Fatalf("the cut put: %v, want it cancelled", err)
	}
}

// reput puts again: the client continues an interrupted upload by itself.
func (n *native) reput(local, remote string) error {
	return n.with(func(c *client.Client) error {
		res, err := c.Put(context.Background(), n.path(local), remote, client.Options{})
		if err == nil && res.Offset == 0 {
			n.t.Errorf("put after the cut started at 0 (%q), want a resume", res.Restart)
		}
		return err
	})
}

func (n *native) get(remote, local string) error {
	return n.with(func(c *client.Client) error {
		_, err := c.Get(context.Background(), remote, n.path(local), client.Options{})
		return err
	})
}

// reget leaves the prefix where an interrupted get leaves it (beside the target) and gets again.
func (n *native) reget(remote, local string, prefix []byte) error {
	must(n.t, os.WriteFile(transfer.PartialName(n.path(local)), prefix, 0o600))
	return n.with(func(c *client.Client) error {
		res, err := c.Get(context.Background(), remote, n.path(local), client.Options{})
		if err == nil && res.Offset != int64(len(prefix)) {
			n.t.Errorf("get resumed at %d, want %d", res.Offset, len(prefix))
		}
		return err
	})
}

func (n *native) list(dir string) (names []string, err error) {
	err = n.with(func(c *client.Client) error {
		return c.List(dir, false, func(en proto.Entry) error { names = append(names, en.Name); return nil })
	})
	return names, err
}

func (n *native) mkdir(dir string) error {
	return n.with(func(c *client.Client) error { _, err := c.Mkdir(dir, false); return err })
}

func (n *native) rename(from, to string) error {
	return n.with(func(c *client.Client) error { return c.Rename(from, to) })
}

// lines splits a client's output into its non-empty lines.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if l = strings.TrimRight(l, "\r"); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
