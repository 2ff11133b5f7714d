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
	rep, err := c.roundTrip(proto.Request{Op: proto.OpQuota})
	return rep.Used, rep.Quota, err
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
	rep, err := c.roundTrip(proto.Request{Op: proto.OpList, Path: path, Long: long})
	if err != nil {
		return err
	}
	if rep.Code != proto.CodeDataFollows {
		return c.fail(fmt.Errorf("%w: list reply %d", ErrProtocol, rep.Code))
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
			return c.fail(fmt.Errorf("%w: %s frame in a listing", ErrProtocol, f.Type))
		}
		if err := c.listFrame(f.Len, fn, &fnErr); err != nil {
			return err
		}
	}
}

// listFrame decodes one data frame of listing lines. An error from fn stops the calls but not the
// reading, so the session stays in step.
func (c *Client) listFrame(n int, fn func(proto.Entry) error, fnErr *error) error {
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	for line := range bytes.Lines(buf) {
		e, err := proto.DecodeEntry(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			return c.fail(fmt.Errorf("%w: %w", ErrProtocol, err))
		}
		if *fnErr == nil {
			*fnErr = fn(e)
		}
	}
	return nil
}
