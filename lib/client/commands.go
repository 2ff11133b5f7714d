package client

import (
	"bytes"
	"fmt"
	"io"

	"github.com/myftp/myftp/lib/proto"
)

// Login authenticates the session. A wrong password is a *proto.ReplyError with code 530; after too
// many failures the server closes the connection.
func (c *Client) Login(user, password string) error {
	rep, err := c.roundTrip(proto.Request{Op: proto.OpLogin, User: user, Password: password})
	if err != nil {
		return err
	}
	c.user = rep.User
	return nil
}

// User returns the account name after a successful Login.
func (c *Client) User() string { return c.user }

// Pwd returns the current remote directory ("/" is the home).
func (c *Client) Pwd() (string, error) {
	rep, err := c.roundTrip(proto.Request{Op: proto.OpPwd})
	return rep.Path, err
}

// Cd changes the remote directory and returns the new one.
func (c *Client) Cd(path string) (string, error) {
	rep, err := c.roundTrip(proto.Request{Op: proto.OpCd, Path: path})
	return rep.Path, err
}

// Mkdir creates a remote directory (with parents: mkdir -p) and returns its path.
func (c *Client) Mkdir(path string, parents bool) (string, error) {
	rep, err := c.roundTrip(proto.Request{Op: proto.OpMkdir, Path: path, Parents: parents})
	return rep.Path, err
}

// Rmdir removes an empty remote directory.
func (c *Client) Rmdir(path string) error {
	_, err := c.roundTrip(proto.Request{Op: proto.OpRmdir, Path: path})
	return err
}

// Rm removes a remote file.
func (c *Client) Rm(path string) error {
	_, err := c.roundTrip(proto.Request{Op: proto.OpRm, Path: path})
	return err
}

// RmPartial removes the unfinished upload of the remote file path (a stored file of that name
// stays).
func (c *Client) RmPartial(path string) error {
	_, err := c.roundTrip(proto.Request{Op: proto.OpRm, Path: path, Partial: true})
	return err
}

// Rename moves a remote file or directory.
func (c *Client) Rename(from, to string) error {
	_, err := c.roundTrip(proto.Request{Op: proto.OpRename, Path: from, To: to})
	return err
}

// Stat describes a remote file or directory.
func (c *Client) Stat(path string) (proto.Entry, error) {
	rep, err := c.roundTrip(proto.Request{Op: proto.OpStat, Path: path})
	if err != nil {
		return proto.Entry{}, err
	}
	if rep.Entry == nil {
		return proto.Entry{}, fmt.Errorf("%w: stat reply without entry", ErrProtocol)
	}
	return *rep.Entry, nil
}

// Quota returns the bytes used and the quota of the account.
func (c *Client) Quota() (used, quota int64, err error) {
	u, err := c.Usage()
	return u.Used, u.Quota, err
}

// Usage is an account's use of its quotas.
type Usage struct {
	Used, Quota int64 // bytes
	// Files is the number of files, directories and other entries of the home, each unfinished
	// upload counting two; MaxFiles is how many it may hold (0: the server did not say).
	Files, MaxFiles int64
}

// Usage returns the account's use of its quotas.
func (c *Client) Usage() (Usage, error) {
	rep, err := c.roundTrip(proto.Request{Op: proto.OpQuota})
	return Usage{Used: rep.Used, Quota: rep.Quota, Files: rep.Files, MaxFiles: rep.MaxFiles}, err
}

// Noop checks that the session is alive.
func (c *Client) Noop() error {
	_, err := c.roundTrip(proto.Request{Op: proto.OpNoop})
	return err
}

// ServerHelp returns the operations the server knows.
func (c *Client) ServerHelp() ([]string, error) {
	rep, err := c.roundTrip(proto.Request{Op: proto.OpHelp})
	return rep.Commands, err
}

// List calls fn for every entry of the remote directory path ("" for the current one), in the
// order the server sends them (directory order), as they arrive: memory does not grow with the
// directory. With long set, entries carry size, mode and time.
func (c *Client) List(path string, long bool, fn func(proto.Entry) error) error {
	return lines(c, proto.Request{Op: proto.OpList, Path: path, Long: long}, proto.DecodeEntry, fn)
}

// Partials calls fn for every unfinished upload of the account (the server keeps them for a
// resume, and they count toward the quotas), in the order the server sends them, as they arrive.
func (c *Client) Partials(fn func(proto.Partial) error) error {
	return lines(c, proto.Request{Op: proto.OpPartials}, proto.DecodePartial, fn)
}

// lines sends req, whose answer is a 150 reply, data frames of JSON lines and a final reply, and
// calls fn with each line that decode makes of them.
func lines[T any](c *Client, req proto.Request, decode func([]byte) (T, error), fn func(T) error) error {
	rep, err := c.roundTrip(req)
	if err != nil {
		return err
	}
	if rep.Code != proto.CodeDataFollows {
		return c.fail(fmt.Errorf("%w: %s reply %d", ErrProtocol, req.Op, rep.Code))
	}
	var fnErr error
	for {
		f, err := c.next()
		if err != nil {
			return err
		}
		if f.Type == proto.TypeReply {
			rep, err := c.decodeReply(f.Payload)
			if err != nil {
				return err
			}
			if fnErr != nil {
				return fnErr
			}
			return rep.Err()
		}
		if f.Type != proto.TypeData {
			return c.fail(fmt.Errorf("%w: %s frame in the answer to %s", ErrProtocol, f.Type, req.Op))
		}
		if err := linesFrame(c, f.Len, decode, fn, &fnErr); err != nil {
			return err
		}
	}
}

// linesFrame decodes one data frame of lines. An error from fn stops the calls but not the
// reading, so the session stays in step.
func linesFrame[T any](c *Client, n int, decode func([]byte) (T, error), fn func(T) error, fnErr *error) error {
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	for line := range bytes.Lines(buf) {
		v, err := decode(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			return c.fail(fmt.Errorf("%w: %w", ErrProtocol, err))
		}
		if *fnErr == nil {
			*fnErr = fn(v)
		}
	}
	return nil
}
