package sftpdoor

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/pkg/sftp"
)

// server serves the requests of one sftp channel, one after the other, on the goroutine that
// calls serve: it reads a request, has the door's handlers (pkg/sftp's Handlers interfaces, the
// adapter onto homefs) do it, and writes the reply. It replaces pkg/sftp's request server, which
// passes each request through a dispatcher, a worker and a goroutine that orders the replies, and
// allocates (and Go clears) a buffer of the size each read asks for before it reads: OpenSSH's sftp
// asks for 255 KiB (the door's limits) twice for every file it gets, whatever its size. Served in
// turn, each request costs no hand-off between goroutines beyond x/crypto/ssh's, and a read's
// buffer is the size of what the file holds (the README's performance section has the figures).
//
// Requests are served in the order they arrive, so replies go out in that order too, as version 3
// of the protocol wants; a client that pipelines (OpenSSH keeps 64 reads or writes in flight)
// gets them as fast as the store serves them.
type server struct {
	h    *handlers
	conn io.ReadWriter // the channel, through packetConn
	bufs *sync.Pool    // the door's buffers of limitsPacket bytes, for large packets

	handles    map[string]*handle
	lastHandle uint64 // the number of the last handle given

	in  []byte // the buffer of small requests
	out []byte // the buffer of small replies
}

// handle is an open file or directory.
type handle struct {
	path   string
	up     io.WriterAt   // a file opened to write
	down   *download     // a file opened to read
	dir    sftp.ListerAt // a directory opened to list
	listed int64         // entries of dir listed so far
}

// smallPacket is the size of the buffers kept for each channel; longer packets (writes of file
// data, reads' replies) borrow one of limitsPacket bytes from the door.
const smallPacket = 8 << 10

// listBatch is how many entries one READDIR reply carries at most.
const listBatch = 100

// maxHandles is how many files and directories a channel may hold open at once (each holds a
// file descriptor or a listing); the limits reply states it.
const maxHandles = 256

func newServer(h *handlers, conn io.ReadWriter, bufs *sync.Pool) *server {
	return &server{h: h, conn: conn, bufs: bufs, handles: map[string]*handle{},
		in: make([]byte, smallPacket), out: make([]byte, 0, smallPacket)}
}

// serve serves requests until the channel ends or fails, then closes what the client left open:
// an upload is then kept for a resume, not published. It returns why it ended (io.EOF when the
// client closed the channel).
func (sv *server) serve() (err error) {
	defer func() { sv.closeAll(err) }()
	for {
		large := false
		pkt, rerr := readPacket(sv.conn, limitsPacket, func(n uint32) []byte {
			if n <= uint32(len(sv.in)) {
				return sv.in[:n]
			}
			large = true
			return sv.getBuf()[:n]
		})
		if rerr != nil {
			return rerr
		}
		werr := sv.serveOne(pkt)
		if large {
			sv.putBuf(pkt)
		}
		if werr != nil {
			return werr
		}
	}
}

func (sv *server) getBuf() []byte {
	if b, ok := sv.bufs.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, limitsPacket)
}

func (sv *server) putBuf(b []byte) {
	b = b[:cap(b)]
	sv.bufs.Put(&b)
}

// serveOne serves the request pkt and writes its reply; the error is that of the channel.
func (sv *server) serveOne(pkt []byte) error {
	d := &decoder{b: pkt[1:]}
	if pkt[0] == fxpInit {
		return sv.version()
	}
	id := d.u32()
	if d.err != nil {
		return sv.status(id, errBadMessage)
	}
	switch pkt[0] {
	case fxpOpen:
		return sv.open(id, d)
	case fxpClose:
		key, h, err := sv.handle(id, d)
		if h == nil {
			return err
		}
		delete(sv.handles, key)
		return sv.status(id, h.close())
	case fxpRead:
		return sv.read(id, d)
	case fxpWrite:
		return sv.write(id, d)
	case fxpLstat, fxpStat:
		r := sv.request("Stat", d)
		if d.err != nil {
			return sv.status(id, d.err)
		}
		if pkt[0] == fxpLstat {
			return sv.attrs(id)(sv.h.Lstat(r))
		}
		return sv.attrs(id)(sv.h.Filelist(r))
	case fxpFstat:
		_, h, err := sv.handle(id, d)
		if h == nil {
			return err
		}
		return sv.attrs(id)(sv.h.Filelist(sftp.NewRequest("Stat", h.path)))
	case fxpSetstat, fxpFsetstat:
		var r *sftp.Request
		if pkt[0] == fxpSetstat {
			r = sv.request("Setstat", d)
		} else {
			_, h, err := sv.handle(id, d)
			if h == nil {
				return err
			}
			r = sftp.NewRequest("Setstat", h.path)
		}
		r.Flags = d.u32()
		r.Attrs = d.rest()
		if d.err != nil {
			return sv.status(id, d.err)
		}
		return sv.status(id, sv.h.Filecmd(r))
	case fxpOpendir:
		r := sv.request("List", d)
		switch {
		case d.err != nil:
			return sv.status(id, d.err)
		case len(sv.handles) >= maxHandles:
			return sv.status(id, errTooManyHandles)
		}
		la, err := sv.h.Filelist(r)
		if err != nil {
			return sv.status(id, err)
		}
		return sv.handleReply(id, &handle{path: r.Filepath, dir: la})
	case fxpReaddir:
		return sv.readdir(id, d)
	case fxpRemove, fxpRmdir:
		method := "Remove"
		if pkt[0] == fxpRmdir {
			method = "Rmdir"
		}
		return sv.cmd(id, d, sv.request(method, d))
	case fxpMkdir:
		r := sv.request("Mkdir", d)
		d.rest() // the attributes: the door keeps its own modes
		return sv.cmd(id, d, r)
	case fxpRealpath:
		p := cleanPath(d.str())
		if d.err != nil {
			return sv.status(id, d.err)
		}
		b := startReply(sv.out, fxpName, id)
		b = binary.BigEndian.AppendUint32(b, 1)
		b = appendString(appendString(b, p), p)
		b = binary.BigEndian.AppendUint32(b, 0) // no attributes
		return sv.send(finishReply(b))
	case fxpRename:
		r := sv.request("Rename", d)
		r.Target = cleanPath(d.str())
		return sv.cmd(id, d, r)
	case fxpReadlink:
		r := sv.request("Readlink", d)
		if d.err != nil {
			return sv.status(id, d.err)
		}
		_, err := sv.h.Filelist(r)
		if err == nil { // the door has no links to read
			err = errNoLinks
		}
		return sv.status(id, err)
	case fxpSymlink:
		// OpenSSH sends the target first, then the link's path (the reverse of the draft).
		r := sftp.NewRequest("Symlink", d.str())
		r.Target = cleanPath(d.str())
		return sv.cmd(id, d, r)
	case fxpExtended:
		return sv.extended(id, d)
	}
	return sv.status(id, sftp.ErrSSHFxOpUnsupported)
}

// version answers INIT: version 3, and the extensions the door serves.
func (sv *server) version() error {
	b := append(sv.out[:0], 0, 0, 0, 0, fxpVersion)
	b = binary.BigEndian.AppendUint32(b, 3)
	for _, e := range [][2]string{
		{"posix-rename@openssh.com", "1"},
		{"statvfs@openssh.com", "2"},
		{"hardlink@openssh.com", "1"}, // refused, with the door's reason, rather than unknown
		{limitsExt, "1"},
	} {
		b = appendString(appendString(b, e[0]), e[1])
	}
	return sv.send(finishReply(b))
}

// extended serves the extensions the door announces.
func (sv *server) extended(id uint32, d *decoder) error {
	name := d.str()
	if d.err != nil {
		return sv.status(id, d.err)
	}
	switch name {
	case "posix-rename@openssh.com":
		r := sv.request("PosixRename", d)
		r.Target = cleanPath(d.str())
		if d.err != nil {
			return sv.status(id, d.err)
		}
		return sv.status(id, sv.h.PosixRename(r))
	case "hardlink@openssh.com":
		r := sv.request("Link", d)
		r.Target = cleanPath(d.str())
		return sv.cmd(id, d, r)
	case "statvfs@openssh.com":
		r := sv.request("StatVFS", d)
		if d.err != nil {
			return sv.status(id, d.err)
		}
		vfs, err := sv.h.StatVFS(r)
		if err != nil {
			return sv.status(id, err)
		}
		vfs.ID = id
		b, err := vfs.MarshalBinary()
		if err != nil {
			return sv.status(id, err)
		}
		return sv.send(finishReply(b))
	case limitsExt:
		return sv.send(limitsReply(id))
	}
	return sv.status(id, sftp.ErrSSHFxOpUnsupported)
}

// request is a request of the handlers for the path that d reads next, cleaned as pkg/sftp's
// request server cleans it: absolute, without "." or "..".
func (sv *server) request(method string, d *decoder) *sftp.Request {
	return sftp.NewRequest(method, cleanPath(d.str()))
}

// cleanPath makes the path p of a request absolute and clean; a relative one starts at the home.
func cleanPath(p string) string {
	return path.Clean("/" + filepath.ToSlash(p))
}

// cmd runs the command r (Filecmd), unless its request did not decode, and replies its status.
func (sv *server) cmd(id uint32, d *decoder, r *sftp.Request) error {
	if d.err != nil {
		return sv.status(id, d.err)
	}
	return sv.status(id, sv.h.Filecmd(r))
}

// errTooManyHandles refuses an open beyond maxHandles.
var errTooManyHandles = &status{code: sftp.ErrSSHFxFailure, msg: "too many open files and directories: close some first"}

// open opens a file to read or to write, as its flags say (a file opened to read and write is
// written: the door serves no reads on it).
func (sv *server) open(id uint32, d *decoder) error {
	r := sv.request("Open", d)
	r.Flags = d.u32()
	if attrs := d.rest(); len(attrs) >= 4 { // their flags, then the attributes, which the door does not use
		r.Attrs = attrs[4:]
	}
	switch {
	case d.err != nil:
		return sv.status(id, d.err)
	case len(sv.handles) >= maxHandles:
		return sv.status(id, errTooManyHandles)
	}
	flags := r.Pflags()
	switch {
	case flags.Write, flags.Append, flags.Creat, flags.Trunc:
		r.Method = "Put"
		w, err := sv.h.Filewrite(r)
		if err != nil {
			return sv.status(id, err)
		}
		return sv.handleReply(id, &handle{path: r.Filepath, up: w})
	case flags.Read:
		r.Method = "Get"
		rd, err := sv.h.Fileread(r)
		if err != nil {
			return sv.status(id, err)
		}
		down, ok := rd.(*download)
		if !ok { // Fileread returns nothing else
			return sv.status(id, &status{code: sftp.ErrSSHFxFailure, msg: "the file cannot be read"})
		}
		return sv.handleReply(id, &handle{path: r.Filepath, down: down})
	}
	return sv.status(id, &status{code: sftp.ErrSSHFxFailure, msg: "bad file flags: neither read nor write"})
}

// read reads from a file opened to read. The reply is at most what the file holds from the
// offset, and at most limitsRW.
func (sv *server) read(id uint32, d *decoder) error {
	_, h, err := sv.handle(id, d)
	if h == nil {
		return err
	}
	off, n := d.u64(), int64(d.u32())
	switch {
	case d.err != nil:
		return sv.status(id, d.err)
	case h.down == nil:
		return sv.status(id, &status{code: sftp.ErrSSHFxFailure, msg: "the handle is not open to read"})
	case off > math.MaxInt64:
		return sv.status(id, io.EOF)
	}
	if n = min(n, limitsRW); n > 0 {
		// Not past what the file holds, but a byte at least, so that a read at the end reads
		// nothing and answers end of file (which marks a download complete).
		n = max(1, min(n, h.down.dl.Info.Size-int64(off)))
	}
	const head = 4 + 1 + 4 + 4 // length, type, id, the data's length
	b := sv.out
	if head+n > int64(cap(b)) {
		b = sv.getBuf()
		defer sv.putBuf(b)
	}
	b = startReply(b, fxpData, id)
	b = b[:head]
	k, err := h.down.ReadAt(b[head:head+n], int64(off))
	if err != nil && (k == 0 || !errors.Is(err, io.EOF)) { // a failed read sends no data
		return sv.status(id, err)
	}
	binary.BigEndian.PutUint32(b[head-4:], uint32(k))
	return sv.send(finishReply(b[:head+k]))
}

// write writes to a file opened to write.
func (sv *server) write(id uint32, d *decoder) error {
	_, h, err := sv.handle(id, d)
	if h == nil {
		return err
	}
	off, data := d.u64(), d.bytes()
	switch {
	case d.err != nil:
		return sv.status(id, d.err)
	case h.up == nil:
		return sv.status(id, &status{code: sftp.ErrSSHFxFailure, msg: "the handle is not open to write"})
	case off > math.MaxInt64:
		return sv.status(id, &status{code: sftp.ErrSSHFxFailure, msg: "offset too large"})
	}
	_, err = h.up.WriteAt(data, int64(off))
	return sv.status(id, err)
}

// readdir replies the next entries of a directory being listed, or end of file.
func (sv *server) readdir(id uint32, d *decoder) error {
	_, h, err := sv.handle(id, d)
	if h == nil {
		return err
	}
	if h.dir == nil {
		return sv.status(id, &status{code: sftp.ErrSSHFxFailure, msg: "the handle is not a directory"})
	}
	fis := make([]os.FileInfo, listBatch)
	n, err := h.dir.ListAt(fis, h.listed)
	if n == 0 {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.EOF
		}
		return sv.status(id, err)
	}
	h.listed += int64(n)
	b := startReply(make([]byte, 0, 256*n), fxpName, id)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	now := time.Now()
	for _, fi := range fis[:n] {
		b = appendString(b, fi.Name())
		b = appendString(b, longName(fi, now))
		b = appendAttrs(b, fi)
	}
	return sv.send(finishReply(b))
}

// attrs returns the function that replies the attributes of the first entry a lister gives.
func (sv *server) attrs(id uint32) func(sftp.ListerAt, error) error {
	return func(la sftp.ListerAt, err error) error {
		if err != nil {
			return sv.status(id, err)
		}
		fis := make([]os.FileInfo, 1)
		n, err := la.ListAt(fis, 0)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				err = os.ErrNotExist
			}
			return sv.status(id, err)
		}
		return sv.send(finishReply(appendAttrs(startReply(sv.out, fxpAttrs, id), fis[0])))
	}
}

// handle returns the open handle that d reads next, and its key; if there is none it replies the
// failure and returns a nil handle, with the channel's error.
func (sv *server) handle(id uint32, d *decoder) (string, *handle, error) {
	key := d.str()
	if d.err != nil {
		return "", nil, sv.status(id, d.err)
	}
	h, ok := sv.handles[key]
	if !ok {
		return "", nil, sv.status(id, &status{code: sftp.ErrSSHFxFailure, msg: "no such handle"})
	}
	return key, h, nil
}

// handleReply gives h a handle and replies it.
func (sv *server) handleReply(id uint32, h *handle) error {
	sv.lastHandle++
	key := strconv.FormatUint(sv.lastHandle, 10)
	sv.handles[key] = h
	return sv.send(finishReply(appendString(startReply(sv.out, fxpHandle, id), key)))
}

// close closes a handle as the client asks.
func (h *handle) close() error {
	switch {
	case h.up != nil:
		if c, ok := h.up.(io.Closer); ok {
			return c.Close()
		}
	case h.down != nil:
		return h.down.Close()
	}
	return nil
}

// closeAll closes the handles left open when the channel ended with err: uploads are kept for a
// resume.
func (sv *server) closeAll(err error) {
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	for key, h := range sv.handles {
		if te, ok := h.up.(interface{ TransferError(error) }); ok {
			te.TransferError(err)
		}
		h.close()
		delete(sv.handles, key)
	}
}

// status replies the status of err: OK for nil, else its code and message.
func (sv *server) status(id uint32, err error) error {
	code, msg := statusOf(err)
	b := startReply(sv.out, fxpStatus, id)
	b = binary.BigEndian.AppendUint32(b, code)
	b = appendString(appendString(b, msg), "")
	return sv.send(finishReply(b))
}

// statusOf is the SFTP status code and message of err: the code of an SFTP status error (the
// door's handlers return those), end of file, no such file, permission denied, else failure; the
// message is the error's.
func statusOf(err error) (uint32, string) {
	if err == nil {
		return fxOK, ""
	}
	for _, c := range []struct {
		err  error
		code uint32
	}{
		{sftp.ErrSSHFxEOF, fxEOF},
		{sftp.ErrSSHFxNoSuchFile, fxNoSuchFile},
		{sftp.ErrSSHFxPermissionDenied, fxPermissionDenied},
		{sftp.ErrSSHFxFailure, fxFailure},
		{sftp.ErrSSHFxBadMessage, fxBadMessage},
		{errBadMessage, fxBadMessage},
		{sftp.ErrSSHFxOpUnsupported, fxOpUnsupported},
		{io.EOF, fxEOF},
		{os.ErrNotExist, fxNoSuchFile},
		{os.ErrPermission, fxPermissionDenied},
	} {
		if errors.Is(err, c.err) {
			return c.code, err.Error()
		}
	}
	return fxFailure, err.Error()
}

// send writes the whole reply b.
func (sv *server) send(b []byte) error {
	_, err := sv.conn.Write(b)
	return err
}
