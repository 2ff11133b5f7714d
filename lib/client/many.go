package client

import (
	"fmt"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/proto"
)

// Sum returns the server's checksum of the remote file path, in the algorithm of this connection
// (Checksum). The server answers from the checksum it recorded when it stored or last read the
// file, and reads the file only when it has none. A server that does not know the operation (one
// older than it) answers with a *proto.ReplyError of code 502.
func (c *Client) Sum(path string) (string, error) {
	rep, err := c.roundTrip(c.sumRequest(path))
	if err != nil {
		return "", err
	}
	return c.sumOf(rep)
}

// SumMany asks for the checksums of several remote files (as Sum does), sending the requests
// without waiting for each answer. each is called once per path, in order, with its checksum or
// the server's refusal (a *proto.ReplyError: no such file, a directory...). The error is a failure
// of the connection, which stops the calls.
func (c *Client) SumMany(paths []string, each func(i int, sum string, err error)) error {
	reqs := make([]proto.Request, len(paths))
	for i, p := range paths {
		reqs[i] = c.sumRequest(p)
	}
	return c.pipelined(reqs, func(i int, rep proto.Reply, err error) error {
		var sum string
		if err == nil {
			sum, err = c.sumOf(rep)
		}
		if c.Err() != nil { // a reply that breaks the protocol closed the connection
			return c.Err()
		}
		each(i, sum, err)
		return nil
	})
}

// StatMany describes several remote paths (as Stat does), sending the requests without waiting
// for each answer. each is called once per path, in order, with its entry or the server's refusal
// (a *proto.ReplyError, code 550 for a path that does not exist). The error is a failure of the
// connection, which stops the calls.
func (c *Client) StatMany(paths []string, each func(i int, e proto.Entry, err error)) error {
	reqs := make([]proto.Request, len(paths))
	for i, p := range paths {
		reqs[i] = proto.Request{Op: proto.OpStat, Path: p}
	}
	return c.pipelined(reqs, func(i int, rep proto.Reply, err error) error {
		if err == nil && rep.Entry == nil {
			return c.fail(fmt.Errorf("%w: stat reply without entry", ErrProtocol))
		}
		var e proto.Entry
		if err == nil {
			e = *rep.Entry
		}
		each(i, e, err)
		return nil
	})
}

func (c *Client) sumRequest(path string) proto.Request {
	// md5 is named by saying nothing, as for transfers.
	return withChecksum(proto.Request{Op: proto.OpSum, Path: path}, c.Checksum())
}

// sumOf checks that a sum reply carries a digest of this connection's algorithm.
func (c *Client) sumOf(rep proto.Reply) (string, error) {
	algo, sum := rep.Checksum, replySum(rep)
	if algo == "" {
		algo = checksum.MD5
	}
	if algo != c.Checksum() || !checksum.Valid(algo, sum) {
		return "", c.fail(fmt.Errorf("%w: sum reply %q of %q, want a %s digest", ErrProtocol, sum, algo, c.Checksum()))
	}
	return sum, nil
}

// pipelined sends reqs, whose answers are single replies, a window at a time, and calls each
// with the reply to each request in order (err is the reply's refusal). An error from each, or a
// failure of the connection, stops it.
func (c *Client) pipelined(reqs []proto.Request, each func(i int, rep proto.Reply, err error) error) error {
	for start := 0; start < len(reqs); start += batchWindow {
		end := min(start+batchWindow, len(reqs))
		for _, req := range reqs[start:end] {
			if err := c.send(req); err != nil {
				return err
			}
		}
		if err := c.flush(); err != nil {
			return err
		}
		for i := start; i < end; i++ {
			rep, err := c.reply()
			if err != nil {
				return err
			}
			if err := each(i, rep, rep.Err()); err != nil {
				return err
			}
		}
	}
	return nil
}
