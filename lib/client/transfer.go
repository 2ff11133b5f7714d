package client

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

// Options tune a transfer.
type Options struct {
	// Progress, if set, is called as data moves with the bytes of the file done so far (a resumed
	// prefix counts as done) and the file's size. It is called from the transfer's goroutines, one
	// call at a time.
	Progress func(done, total int64)
	// NoResume starts from byte 0 even when an interrupted transfer could be continued.
	NoResume bool
	// Start, if set, is called by PutMany and GetMany with the index of the item whose data is
	// about to flow, before Progress reports on it: the results of a batch come in order, but a
	// download's may come after the next one has started.
	Start func(index int)
}

// Result describes a finished transfer.
type Result struct {
	Local, Remote string
	Size          int64  // of the whole file
	Checksum      string // the algorithm that verified it: "blake3", "sha256" or "md5"
	Sum           string // hex checksum of the whole file, verified by both sides
	Offset        int64  // where this transfer started: > 0 when it resumed
	Restart       string // why it started at 0 although a partial existed; "" otherwise
	// Elapsed is how long the data took (Put, Get): from when it starts to flow, both sides having
	// agreed on the offset and hashed the part before it, to the server's final reply. Hashing a
	// partial file for a resume is not counted, so Sent()/Elapsed is the speed of the network
	// transfer. PutMany and GetMany say what it covers for a pipelined file.
	Elapsed time.Duration
}

// Sent is the number of bytes that travelled in this transfer.
func (r Result) Sent() int64 { return r.Size - r.Offset }

const (
	chunk  = 256 << 10 // bytes per data frame sent
	window = 32        // data frames sent and not yet acknowledged
)

// Put uploads the local file to remote (its base name in the current remote directory if remote
// is ""). If an earlier upload of the same file was interrupted, only the missing bytes are sent,
// after both sides checked that the part already on the server is the same data. The file appears
// on the server only when complete and verified.
func (c *Client) Put(ctx context.Context, local, remote string, opt Options) (Result, error) {
	if err := tooLong(remote); err != nil { // said alone: its message would repeat the path
		return Result{Local: local, Remote: remote}, err
	}
	f, fi, err := openLocal(local)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	if remote == "" {
		remote = filepath.Base(local)
	}
	defer c.closeOnCancel(ctx)()
	res := Result{Local: local, Remote: remote, Size: fi.Size(), Checksum: c.Checksum()}
	offset, h, err := c.openUpload(f, fi, &res, !opt.NoResume)
	if err != nil {
		return res, ctxErr(ctx, err)
	}
	res.Offset = offset
	start := time.Now() // the prefixes are hashed: see Result.Elapsed
	if err := c.stream(ctx, f, fi.Size()-offset, h, offset, opt.Progress); err != nil {
		return res, ctxErr(ctx, err)
	}
	res.Sum = transfer.Hex(h)
	if err := c.send(doneRequest(res.Checksum, res.Sum)); err != nil {
		return res, ctxErr(ctx, err)
	}
	if _, err := c.roundTripFlushed(); err != nil {
		return res, fmt.Errorf("upload %s: %w", remote, ctxErr(ctx, err))
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// doneRequest ends an upload verified with algo: md5 in the field servers before checksum read.
func doneRequest(algo, sum string) proto.Request {
	if algo == checksum.MD5 {
		return proto.Request{Op: proto.OpDone, MD5: sum}
	}
	return proto.Request{Op: proto.OpDone, Sum: sum}
}

// withChecksum names algo in a put or get; md5 is named by saying nothing, which servers before
// checksum understand.
func withChecksum(req proto.Request, algo string) proto.Request {
	if algo != checksum.MD5 {
		req.Checksum = algo
	}
	return req
}

// replyPrefix and replySum are the digests a reply carries, whichever field the server used.
func replyPrefix(rep proto.Reply) string {
	if rep.PrefixSum != "" {
		return rep.PrefixSum
	}
	return rep.PrefixMD5
}

func replySum(rep proto.Reply) string {
	if rep.Sum != "" {
		return rep.Sum
	}
	return rep.MD5
}

// closeOnCancel makes the connection unusable as soon as ctx ends, so that a cancelled transfer
// returns at once wherever it waits (the package doc promises a closed connection after a
// cancelled transfer). Call the returned func when the transfer is over.
func (c *Client) closeOnCancel(ctx context.Context) func() bool {
	return context.AfterFunc(ctx, func() { c.fail(fmt.Errorf("%w: %w", ErrClosed, ctx.Err())) })
}

// roundTripFlushed flushes what was sent and reads one reply, returning a negative one as error.
func (c *Client) roundTripFlushed() (proto.Reply, error) {
	if err := c.flush(); err != nil {
		return proto.Reply{}, err
	}
	rep, err := c.reply()
	if err != nil {
		return rep, err
	}
	return rep, rep.Err()
}

func openLocal(local string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(local, os.O_RDONLY|noPoll, 0) // a fifo does not block the open either
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", local)
	}
	return f, fi, nil
}

// openUpload sends put and agrees on the offset: when the server has a partial upload, the local
// prefix is hashed and compared with the server's; if they differ the upload restarts at 0. It
// returns the offset (f is positioned there) and the md5 state of the bytes before it.
func (c *Client) openUpload(f *os.File, fi fs.FileInfo, res *Result, resume bool) (int64, hash.Hash, error) {
	req := withChecksum(proto.Request{Op: proto.OpPut, Path: res.Remote, Size: fi.Size(), Mtime: fi.ModTime().UTC(), Resume: resume},
		res.Checksum)
	rep, err := c.roundTrip(req)
	if err != nil {
		return 0, nil, fmt.Errorf("upload %s: %w", res.Remote, err)
	}
	res.Restart = rep.Restart
	if rep.Offset == 0 {
		return 0, checksum.NewDigest(res.Checksum), nil
	}
	if rep.Offset > fi.Size() {
		return 0, nil, c.fail(fmt.Errorf("%w: resume offset %d beyond the file's %d bytes", ErrProtocol, rep.Offset, fi.Size()))
	}
	h, err := transfer.HashPrefix(res.Checksum, f, rep.Offset)
	if err != nil {
		return 0, nil, err
	}
	if transfer.Hex(h) == replyPrefix(rep) {
		return rep.Offset, h, nil
	}
	res.Restart = "the local file differs from the part already uploaded"
	req.Resume = false
	if _, err := c.roundTrip(req); err != nil {
		return 0, nil, fmt.Errorf("upload %s: %w", res.Remote, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, nil, err
	}
	return 0, checksum.NewDigest(res.Checksum), nil
}

// stream sends n bytes of r as data frames, hashing them into h, while this goroutine reads the
// server's acknowledgements; at most `window` frames are unacknowledged. The first negative reply
// stops the sending and is returned. done is the count of bytes before r (for progress).
func (c *Client) stream(ctx context.Context, r io.Reader, n int64, h hash.Hash, done int64, progress func(int64, int64)) error {
	total := done + n
	if progress != nil {
		progress(done, total)
	}
	slots := make(chan struct{}, window) // taken by each frame sent, freed by its reply
	sent := make(chan struct{}, window)  // one token per frame sent; closed when sending ends
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		defer close(sent)
		werr <- c.sendFrames(ctx, r, n, h, slots, sent, stop, func(k int64) {
			done += k
			if progress != nil {
				progress(done, total)
			}
		})
	}()
	var first error
	for range sent {
		rep, err := c.reply()
		<-slots
		if err == nil {
			err = rep.Err()
		}
		if err != nil && first == nil {
			first = err
			close(stop)
		}
	}
	if err := <-werr; first == nil {
		first = err
	}
	if first != nil && c.isBroken() {
		// The server closed the connection while frames were sent, every sent frame's reply
		// read: what it sent last (a 421 that says why) comes before the end of the stream.
		rep, err := c.reply()
		if err == nil {
			err = rep.Err()
		}
		if err != nil {
			first = err
		}
	}
	c.endBroken()
	return first
}

// sendFrames is the sending half of stream. Each frame takes a slot before it is sent and puts a
// token in sent after; it stops early when stop closes or ctx ends.
func (c *Client) sendFrames(ctx context.Context, r io.Reader, n int64, h hash.Hash, slots, sent chan<- struct{}, stop <-chan struct{}, moved func(int64)) (err error) {
	// Reading the file, hashing and encrypting run on different goroutines.
	sink := transfer.NewSink(frameWriter{c}, h, n)
	defer func() {
		if cerr := sink.Close(); err == nil {
			err = cerr
		}
	}()
	for n > 0 {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case slots <- struct{}{}:
		}
		b := sink.Buffer()
		k, err := io.ReadFull(r, b[:min(n, int64(len(b)))])
		if err != nil {
			return fmt.Errorf("read local file: %w", err)
		}
		if err := sink.Submit(b[:k]); err != nil {
			return err
		}
		sent <- struct{}{}
		n -= int64(k)
		moved(int64(k))
	}
	return nil
}

// frameWriter sends each Write as one data frame and flushes it.
type frameWriter struct{ c *Client }

func (w frameWriter) Write(b []byte) (int, error) {
	c := w.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.raw.SetWriteDeadline(time.Now().Add(c.cfg.IOTimeout))
	if err := c.w.WriteFrame(proto.TypeData, b); err != nil {
		return 0, c.failWrite(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	if err := c.flushW(); err != nil {
		return 0, c.failWrite(fmt.Errorf("%w: %w", ErrClosed, err))
	}
	return len(b), nil
}

// Get downloads remote to local (its base name in the current local directory if local is "",
// inside local if local is a directory). The data goes to a partial file beside the target
// (transfer.PartialName) and is renamed into place only when its checksum matches the server's. A
// partial file left by an interrupted download is continued if its content is still a prefix of
// the remote file.
func (c *Client) Get(ctx context.Context, remote, local string, opt Options) (Result, error) {
	defer c.closeOnCancel(ctx)()
	if err := tooLong(remote); err != nil { // before the local name is made of it
		return Result{Remote: remote}, err
	}
	target, err := LocalTarget(remote, local)
	if err != nil {
		return Result{Remote: remote}, err
	}
	algo := c.Checksum()
	pf, offset, h, err := openPartial(target, !opt.NoResume, algo)
	if err != nil {
		return Result{}, userFile(err, target)
	}
	req := getRequest(remote, algo, offset, h)
	if err := c.send(req); err != nil {
		pf.Close()
		return Result{}, err
	}
	if err := c.flush(); err != nil {
		pf.Close()
		return Result{}, ctxErr(ctx, err)
	}
	res, err := c.receive(ctx, pf, h, offset, opt.Progress)
	res.Local, res.Remote = target, remote
	return res, err
}

// getRequest asks for remote, verified with algo, from offset, where the local part has the
// checksum h has computed.
func getRequest(remote, algo string, offset int64, h hash.Hash) proto.Request {
	req := withChecksum(proto.Request{Op: proto.OpGet, Path: remote, Offset: offset}, algo)
	switch {
	case offset == 0:
	case algo == checksum.MD5:
		req.PrefixMD5 = transfer.Hex(h)
	default:
		req.PrefixSum = transfer.Hex(h)
	}
	return req
}

// LocalTarget decides where a download of remote goes (Get's rule): local itself, or the remote
// base name inside local when local is a directory ("" is the current one). A local that ends in a path
// separator must be an existing directory. The remote name, when it is used, must be one plain
// local file name: a server cannot make a download land outside the chosen directory (on Windows,
// `..\x` has no "/" but is not a plain name). A target that is an existing directory is an error,
// found before any byte travels.
func LocalTarget(remote, local string) (string, error) {
	if local != "" && os.IsPathSeparator(local[len(local)-1]) {
		if err := isDir(local); err != nil {
			return "", err
		}
	} else if local != "" {
		if fi, err := os.Stat(local); err != nil || !fi.IsDir() {
			return local, nil
		}
	}
	target, err := TargetIn(local, remote)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		// Found now, before the download, rather than when the verified file cannot be renamed.
		return "", fmt.Errorf("%s: is a directory", target)
	}
	return target, nil
}

// TargetIn is where a download of remote goes in the local directory dir ("" is the current
// one), as LocalTarget decides it for a dir known to be a directory, without looking at the disk:
// dir joined with the remote base name, which must be one plain local file name.
func TargetIn(dir, remote string) (string, error) {
	base := path.Base(remote)
	if base == "." || base == ".." || strings.ContainsAny(base, `/\`) || !filepath.IsLocal(base) {
		return "", fmt.Errorf("%q: not a file name to save under; give a local name", remote)
	}
	return filepath.Join(dir, base), nil
}

// isDir returns nil if dir is an existing directory, else an error that says what it is.
func isDir(dir string) error {
	fi, err := os.Stat(filepath.Clean(dir)) // stat("file/") fails rather than finding the file
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such directory", dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s: not a directory", dir)
	}
	return nil
}

// openPartial opens (or creates) the partial file of target and, when resuming, hashes what it
// holds with algo. The file is positioned at its end. A new one gets the mode any new file gets
// (0666 less the umask), which it keeps as the downloaded file.
func openPartial(target string, resume bool, algo string) (*os.File, int64, hash.Hash, error) {
	pf, err := os.OpenFile(transfer.PartialName(target), os.O_RDWR|os.O_CREATE|noPoll, 0o666)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := pf.Stat()
	if err != nil || !resume || fi.Size() == 0 {
		if err == nil && fi.Size() > 0 {
			err = pf.Truncate(0)
		}
		if err != nil {
			pf.Close()
			return nil, 0, nil, err
		}
		return pf, 0, checksum.NewDigest(algo), nil
	}
	h, err := transfer.HashPrefix(algo, pf, fi.Size())
	if err != nil {
		pf.Close()
		return nil, 0, nil, err
	}
	return pf, fi.Size(), h, nil
}

// receive reads the reply to a get and its data into pf, verifies the checksum and renames pf
// into place. pf is closed in every case; it is removed when its content is known to be wrong or
// the remote file does not exist, and kept for a resume otherwise. res.Elapsed runs from the
// server's go-ahead (it has checked the prefix) to its final reply.
func (c *Client) receive(ctx context.Context, pf *os.File, h hash.Hash, offset int64, progress func(int64, int64)) (Result, error) {
	res, finish, err := c.receiveVerified(ctx, pf, h, offset, progress)
	if err != nil {
		return res, err
	}
	return res, finish()
}

// receiveVerified is receive up to the verified checksum: on success pf is still open, and finish
// makes it durable, dates it and renames it into place (closing it in every case). On failure pf
// is closed, and removed or kept as receive says.
func (c *Client) receiveVerified(ctx context.Context, pf *os.File, h hash.Hash, offset int64, progress func(int64, int64)) (res Result, finish func() error, err error) {
	name := pf.Name()
	keep := true
	defer func() {
		if err != nil {
			err = userFile(ctxErr(ctx, err), targetOf(name)) // a cancelled transfer says so, not "connection closed"
		}
		if finish == nil {
			pf.Close()
		}
		if !keep || (err != nil && res.Size == 0 && offset == 0) {
			os.Remove(name)
		}
	}()
	rep, err := c.dataHeader()
	if err != nil {
		return res, nil, err
	}
	res = headResult(rep)
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()
	if rep.Offset != offset {
		if err := restartPartial(pf, h); err != nil {
			// The data is on its way and will not be read: the session is out of step.
			return res, nil, c.fail(fmt.Errorf("restart partial file: %w", err))
		}
	}
	if err := c.receiveData(pf, h, rep.Offset, rep.Size, progress); err != nil {
		return res, nil, ctxErr(ctx, err)
	}
	if res.Sum, err = c.verifyDownload(rep, h, filepath.Base(targetOf(name)), res.Checksum); err != nil {
		var mismatch *transfer.MismatchError
		keep = !errors.As(err, &mismatch)
		return res, nil, err
	}
	return res, func() error { return userFile(c.finishPartial(pf, rep.Mtime), targetOf(name)) }, nil
}

// GetTo downloads remote into w, from its first byte. The checksum is verified when the last byte
// has arrived, so w has received the whole file by the time a mismatch (a *transfer.MismatchError)
// is reported: a caller that cannot take data back must say so. Nothing is written to disk.
func (c *Client) GetTo(ctx context.Context, remote string, w io.Writer, opt Options) (res Result, err error) {
	defer c.closeOnCancel(ctx)()
	res.Remote = remote
	algo := c.Checksum()
	h := checksum.NewDigest(algo)
	if err := c.send(getRequest(remote, algo, 0, h)); err != nil {
		return res, err
	}
	if err := c.flush(); err != nil {
		return res, ctxErr(ctx, err)
	}
	rep, err := c.dataHeader()
	if err != nil {
		return res, ctxErr(ctx, err)
	}
	res = headResult(rep)
	res.Remote = remote
	start := time.Now()
	defer func() { res.Elapsed = time.Since(start) }()
	if rep.Offset != 0 {
		return res, c.fail(fmt.Errorf("%w: a download from byte 0 starts at %d", ErrProtocol, rep.Offset))
	}
	if err := c.receiveData(w, h, 0, rep.Size, opt.Progress); err != nil {
		return res, ctxErr(ctx, err)
	}
	res.Sum, err = c.verifyDownload(rep, h, path.Base(remote), res.Checksum)
	return res, ctxErr(ctx, err)
}

// dataHeader reads the reply that opens a download: 150 with the size, or the refusal.
func (c *Client) dataHeader() (proto.Reply, error) {
	rep, err := c.reply()
	if err != nil {
		return rep, err
	}
	if err := rep.Err(); err != nil {
		return rep, err
	}
	if rep.Code != proto.CodeDataFollows {
		return rep, c.fail(fmt.Errorf("%w: get reply %d", ErrProtocol, rep.Code))
	}
	return rep, nil
}

// headResult is what the opening reply of a download says about it.
func headResult(rep proto.Reply) Result {
	res := Result{Size: rep.Size, Offset: rep.Offset, Restart: rep.Restart, Checksum: checksum.MD5}
	if rep.Checksum != "" {
		res.Checksum = rep.Checksum
	}
	return res
}

// verifyDownload reads the final reply of the download that head opened and checks the checksum of what h
// received (the whole file) against it, and against head's when it had one. It returns the
// checksum, or a *transfer.MismatchError naming the file name.
func (c *Client) verifyDownload(head proto.Reply, h hash.Hash, name, algo string) (string, error) {
	final, err := c.reply()
	if err == nil {
		err = final.Err()
	}
	if err != nil {
		return "", err
	}
	got, want := transfer.Hex(h), replySum(final)
	if want != got || (replySum(head) != "" && replySum(head) != want) {
		return got, &transfer.MismatchError{Name: name, Checksum: algo, Want: want, Got: got}
	}
	return got, nil
}

func restartPartial(pf *os.File, h hash.Hash) error {
	h.Reset()
	if err := pf.Truncate(0); err != nil {
		return err
	}
	_, err := pf.Seek(0, io.SeekStart)
	return err
}

// receiveData copies data frames into w until size bytes (from offset) have arrived. A reply
// before that means the server aborted the download.
func (c *Client) receiveData(w io.Writer, h hash.Hash, offset, size int64, progress func(int64, int64)) (err error) {
	// Decrypting, writing the file and hashing run on different goroutines.
	sink := transfer.NewSink(w, h, size-offset)
	defer func() {
		if cerr := sink.Close(); err == nil && cerr != nil {
			err = c.fail(fmt.Errorf("write local file: %w", cerr))
		}
	}()
	done := offset
	if progress != nil {
		progress(done, size)
	}
	for done < size {
		f, err := c.next()
		if err != nil {
			return err
		}
		if f.Type == proto.TypeReply {
			rep, err := c.decodeReply(f.Payload)
			if err != nil {
				return err
			}
			return fmt.Errorf("download aborted by the server: %w", rep.Err())
		}
		if f.Type != proto.TypeData || int64(f.Len) > size-done {
			return c.fail(fmt.Errorf("%w: unexpected %s frame of %d bytes in a download", ErrProtocol, f.Type, f.Len))
		}
		if err := c.receiveFrame(sink, f.Len); err != nil {
			return err
		}
		done += int64(f.Len)
		if progress != nil {
			progress(done, size)
		}
	}
	return nil
}

// receiveFrame reads the payload of one data frame into the sink's buffers.
func (c *Client) receiveFrame(sink *transfer.Sink, n int) error {
	for n > 0 {
		b := sink.Buffer()
		k, err := io.ReadFull(c.r, b[:min(n, len(b))])
		if err != nil {
			return c.fail(fmt.Errorf("%w: %w", ErrClosed, err))
		}
		if err := sink.Submit(b[:k]); err != nil {
			return c.fail(fmt.Errorf("write local file: %w", err))
		}
		n -= k
	}
	return nil
}

// finishPartial makes the verified partial file durable (with those of the other downloads that
// finish at the same time: see durable.Syncer), dates it like the remote file, and renames it to
// its target.
func (c *Client) finishPartial(pf *os.File, mtime time.Time) error {
	if err := c.durable.Sync(pf); err != nil {
		pf.Close()
		return err
	}
	if err := pf.Close(); err != nil {
		return err
	}
	name := pf.Name()
	if !mtime.IsZero() {
		os.Chtimes(name, time.Now(), mtime)
	}
	return os.Rename(name, targetOf(name))
}

// userFile makes a local error about a download's partial file (transfer.PartialName(target))
// an error about target, the file the user asked for: a full disk or a directory that cannot be
// written to is the user's to fix, and the hidden partial file is not a name they know. Other
// errors are returned as they are.
func userFile(err error, target string) error {
	partial := transfer.PartialName(target)
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == partial {
		return &fs.PathError{Op: pe.Op, Path: target, Err: pe.Err}
	}
	var le *os.LinkError
	if errors.As(err, &le) && le.Old == partial {
		return &fs.PathError{Op: "save", Path: target, Err: le.Err}
	}
	return err
}

// targetOf returns the file that the partial download partial is renamed to once verified.
func targetOf(partial string) string {
	dir, base := filepath.Split(partial)
	return filepath.Join(dir, strings.TrimSuffix(strings.TrimPrefix(base, "."), transfer.PartialSuffix))
}
