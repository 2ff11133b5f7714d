package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"time"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/proto"
)

// Item is one file of a batch transfer.
type Item struct {
	Local, Remote string
}

// pipelineMax is the largest file PutMany sends without waiting for the server's go-ahead. Larger
// files go one at a time with Put, so that they can resume; a small file is simply sent again.
const pipelineMax = 1 << 20

// batchWindow is the most files of a batch in flight at once.
const batchWindow = 64

// PutMany uploads items in order. Small files are pipelined: their requests and data go out back
// to back while the replies are read concurrently, so a directory of small files is not limited by
// one round trip per file. each, if set, is called once per item, in order, with its result (a
// pipelined file's Elapsed runs from when it was sent, or when the file before it was done if that
// is later). The error is the first failure (the batch goes on after a failed file); a connection
// failure stops it.
func (c *Client) PutMany(ctx context.Context, items []Item, opt Options, each func(int, Result, error)) error {
	if each == nil {
		each = func(int, Result, error) {}
	}
	defer c.closeOnCancel(ctx)()
	var first error
	note := func(i int, r Result, err error) {
		if err != nil && first == nil {
			first = err
		}
		each(i, r, err)
	}
	for i := 0; i < len(items); {
		j := i
		for j < len(items) && small(items[j].Local) {
			j++
		}
		if j > i {
			if err := c.putPipelined(ctx, items[i:j], i, note); err != nil {
				return ctxErr(ctx, err)
			}
			i = j
			continue
		}
		if opt.Start != nil {
			opt.Start(i)
		}
		r, err := c.Put(ctx, items[i].Local, items[i].Remote, opt)
		note(i, r, err)
		if c.Err() != nil || ctx.Err() != nil { // the failure of this file says why, once
			return cmpOr(first, ctxErr(ctx, c.Err()))
		}
		i++
	}
	return first
}

func small(local string) bool {
	fi, err := os.Stat(local)
	return err == nil && fi.Mode().IsRegular() && fi.Size() <= pipelineMax
}

// pending is a pipelined upload whose replies are still to be read.
type pending struct {
	index   int
	res     Result
	replies int   // replies the requests sent for it will produce
	err     error // a local error: nothing was sent
	start   time.Time
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// putPipelined sends items (all small) without waiting, and reads their replies as they come.
func (c *Client) putPipelined(ctx context.Context, items []Item, base int, note func(int, Result, error)) error {
	queue := make(chan pending, batchWindow)
	werr := make(chan error, 1)
	go func() {
		defer close(queue)
		werr <- c.sendSmall(ctx, items, base, queue)
	}()
	last := time.Now() // when the previous file's replies were in
	for p := range queue {
		if p.err != nil {
			note(p.index, p.res, p.err)
			continue
		}
		err := c.readPutReplies(&p)
		// A pipelined file's time runs from when it was sent, or when the one before it was done
		// if that is later: the elapsed times of a batch add up to the batch's.
		p.res.Elapsed = time.Since(later(p.start, last))
		last = time.Now()
		note(p.index, p.res, err)
	}
	if err := <-werr; err != nil {
		return err
	}
	return c.Err()
}

// sendSmall is the sending half of putPipelined: for each file, put, one data frame and done.
func (c *Client) sendSmall(ctx context.Context, items []Item, base int, queue chan<- pending) error {
	for k, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := pending{index: base + k, res: Result{Local: it.Local, Remote: it.Remote}}
		if p.res.Remote == "" {
			p.res.Remote = filepath.Base(it.Local)
		}
		p.start = time.Now()
		data, fi, err := readSmall(it.Local)
		if err != nil {
			p.err = err
			if err := enqueue(c, queue, p); err != nil {
				return err
			}
			continue
		}
		h := checksum.NewDigest(c.Checksum())
		h.Write(data)
		p.res.Size, p.res.Checksum, p.res.Sum = int64(len(data)), c.Checksum(), hex.EncodeToString(h.Sum(nil))
		if err := c.sendPut(p.res, fi.ModTime(), data); err != nil {
			return err
		}
		p.replies = 2
		if len(data) > 0 {
			p.replies = 3
		}
		if err := enqueue(c, queue, p); err != nil {
			return err
		}
	}
	return c.flush()
}

// enqueue hands v to the reading half. When the queue is full, what was sent is flushed first, so
// the reader is never left waiting for replies to requests still in the buffer.
func enqueue[T any](c *Client, queue chan<- T, v T) error {
	select {
	case queue <- v:
		return nil
	default:
	}
	if err := c.flush(); err != nil {
		return err
	}
	queue <- v
	return nil
}

func readSmall(local string) ([]byte, os.FileInfo, error) {
	f, fi, err := openLocal(local)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if fi.Size() > pipelineMax { // it grew since the batch was planned; one data frame cannot hold it
		return nil, nil, fmt.Errorf("%s: grew to %d bytes during the batch; send it again with put", local, fi.Size())
	}
	data := make([]byte, fi.Size())
	if _, err := f.ReadAt(data, 0); err != nil && fi.Size() > 0 {
		return nil, nil, fmt.Errorf("read %s: %w", local, err)
	}
	return data, fi, nil
}

// sendPut writes the three frames of a pipelined upload.
func (c *Client) sendPut(r Result, mtime time.Time, data []byte) error {
	if err := c.send(withChecksum(proto.Request{Op: proto.OpPut, Path: r.Remote, Size: r.Size, Mtime: mtime.UTC()}, r.Checksum)); err != nil {
		return err
	}
	if len(data) > 0 {
		c.wmu.Lock()
		err := c.w.WriteFrame(proto.TypeData, data)
		c.wmu.Unlock()
		if err != nil {
			return c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
		}
	}
	return c.send(doneRequest(r.Checksum, r.Sum))
}

// readPutReplies reads the replies of one pipelined upload; the first negative one is its error.
func (c *Client) readPutReplies(p *pending) error {
	var first error
	for range p.replies {
		rep, err := c.reply()
		if err != nil {
			return err
		}
		if err := rep.Err(); err != nil && first == nil {
			first = fmt.Errorf("upload %s: %w", p.res.Remote, err)
		}
	}
	return first
}

// GetMany downloads items in order, pipelining the requests (at most 64 ahead) so that many small
// files are not limited by one round trip each. Every file resumes and is verified as with Get.
// each, if set, is called once per item, in order; a file's Elapsed runs from when its request was
// sent, or when the file before it was done if that is later. The error is the first failure; a
// connection failure stops the batch. The partial files of the files it did not reach are removed
// unless they hold data from an earlier download (to resume).
func (c *Client) GetMany(ctx context.Context, items []Item, opt Options, each func(int, Result, error)) error {
	if each == nil {
		each = func(int, Result, error) {}
	}
	defer c.closeOnCancel(ctx)()
	queue := make(chan getReq, batchWindow)
	werr := make(chan error, 1)
	go func() {
		defer close(queue)
		werr <- c.sendGets(ctx, items, !opt.NoResume, queue)
	}()
	// A verified file is made durable and renamed on a goroutine of its own while the next ones
	// arrive, so that the files that finish together share one flush (durable.Syncer); each
	// still hears of them in order, once each is in place.
	var first error
	var finishing []*finished
	report := func(wait bool) {
		for len(finishing) > 0 {
			f := finishing[0]
			if !wait {
				select {
				case <-f.done:
				default:
					return
				}
			}
			<-f.done
			each(f.index, f.res, f.err)
			first = cmpOr(first, f.err)
			finishing = finishing[1:]
		}
	}
	last := time.Now()
	for g := range queue {
		f := &finished{index: g.index, done: make(chan struct{})}
		finishing = append(finishing, f)
		if g.err != nil {
			f.res, f.err = Result{Remote: items[g.index].Remote}, g.err
			close(f.done)
		} else {
			if opt.Start != nil {
				opt.Start(g.index)
			}
			res, finish, err := c.receiveVerified(ctx, g.pf, g.h, g.offset, opt.Progress)
			res.Local, res.Remote, res.Elapsed = g.target, items[g.index].Remote, time.Since(later(g.start, last))
			last = time.Now()
			f.res, f.err = res, err
			if finish == nil {
				close(f.done)
			} else {
				go func() {
					defer close(f.done)
					f.err = finish()
				}()
			}
		}
		report(len(finishing) >= batchWindow)
		if c.Err() != nil {
			for g := range queue { // requests that will not be answered
				g.abandon()
			}
			break
		}
	}
	report(true)
	if err := <-werr; err != nil {
		return errors.Join(first, err)
	}
	return first
}

// finished is a download of a batch whose result waits to be reported in order: done is closed
// once its file is in place (or it failed).
type finished struct {
	index int
	res   Result
	err   error
	done  chan struct{}
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// getReq is a pipelined download whose reply is still to be read.
type getReq struct {
	index  int
	target string
	pf     *os.File
	offset int64
	h      hash.Hash
	start  time.Time
	err    error
}

// abandon closes the partial file of a download that will not take place, and removes it when it
// is empty because this download created or emptied it (offset 0): a partial with data is kept
// for a resume.
func (g getReq) abandon() {
	if g.pf == nil {
		return
	}
	g.pf.Close()
	if g.offset == 0 {
		os.Remove(g.pf.Name())
	}
}

// sendGets is the sending half of GetMany. A file whose local target is also the target of an
// earlier file of the batch fails without being requested: the two downloads would share one
// partial file, and the second would write into the first after its check.
func (c *Client) sendGets(ctx context.Context, items []Item, resume bool, queue chan<- getReq) error {
	targets := make(map[string]int, len(items))
	for i, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		g := getReq{index: i}
		var err error
		g.target, err = LocalTarget(it.Remote, it.Local)
		key, aerr := filepath.Abs(g.target)
		if aerr != nil {
			key = filepath.Clean(g.target)
		}
		if err != nil {
			g.err = err
		} else if k, dup := targets[key]; dup {
			g.err = fmt.Errorf("%s: also the target of %s in this batch; not downloaded", g.target, items[k].Remote)
		} else {
			targets[key] = i
			g.pf, g.offset, g.h, g.err = openPartial(g.target, resume, c.Checksum())
			if g.err != nil {
				g.err = userFile(g.err, g.target)
			}
		}
		g.start = time.Now() // its prefix is hashed: see Result.Elapsed
		if g.err == nil {
			if err := c.send(getRequest(it.Remote, c.Checksum(), g.offset, g.h)); err != nil {
				g.abandon()
				return err
			}
		}
		if err := enqueue(c, queue, g); err != nil {
			g.abandon()
			return err
		}
	}
	return c.flush()
}
