package sftpdoor

import (
	"errors"
	"io"
	"os"
	"path"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/lib/homefs"
)

// handlers adapts the session's homefs.FS to the requests of an sftp channel, in the shape of
// pkg/sftp's Handlers (requests as sftp.Request, listings as sftp.ListerAt). The door's server
// (server.go) cleans every path (absolute, no "..") before; the rules (jail, quota, uploads) are
// homefs's.
type handlers struct {
	s    *session
	tell *teller // the failures' messages, to the channel's standard error
}

var (
	_ sftp.FileReader           = (*handlers)(nil)
	_ sftp.FileWriter           = (*handlers)(nil)
	_ sftp.FileCmder            = (*handlers)(nil)
	_ sftp.FileLister           = (*handlers)(nil)
	_ sftp.StatVFSFileCmder     = (*handlers)(nil)
	_ sftp.PosixRenameFileCmder = (*handlers)(nil)
	_ sftp.LstatFileLister      = (*handlers)(nil)
)

// do runs op on the home once the account is known to be still allowed, and maps its error.
func (h *handlers) do(op func(*homefs.FS) error) error {
	if err := h.s.allowed(); err != nil {
		return h.tell.status(err)
	}
	err := op(h.s.fs)
	var he *homefs.Error
	if errors.As(err, &he) {
		door.LogEscape(h.s.log, "", he.Path, err)
	}
	return h.tell.status(err)
}

// Fileread opens a file for a download (get, reget, ranged reads).
func (h *handlers) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	var d *download
	err := h.do(func(f *homefs.FS) error {
		dl, err := f.OpenDownload(r.Filepath)
		if err != nil {
			return err
		}
		if !h.s.opened() {
			dl.Close()
			return errShuttingDown
		}
		d = &download{s: h.s, tell: h.tell, dl: dl, start: time.Now()}
		return nil
	})
	return d, err
}

// Filewrite opens a file for an upload. With the truncate flag it starts afresh (put, scp's
// first open of a new name is the same); with the append flag it continues what the server holds
// for the name (reput, curl -C -): the unfinished upload, or a copy of the stored file. A plain
// write (neither flag: scp, WinSCP and FileZilla resumes) continues an unfinished upload if
// there is one; on a stored file it rewrites the file in place: what the client writes replaces
// those bytes, and the rest is taken from the stored file when the handle is closed, unless the
// client set the file's size (scp does, at the end of what it wrote). The file appears under its
// name when the handle is closed with no gap.
func (h *handlers) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	var u *upload
	err := h.do(func(f *homefs.FS) error {
		flags := r.Pflags()
		if flags.Excl || !flags.Creat {
			_, err := f.StatHeld(r.Filepath)
			switch {
			case flags.Excl && err == nil:
				return &homefs.Error{Kind: homefs.ErrExists, Path: r.Filepath}
			case !flags.Creat && err != nil:
				return err
			}
		}
		offset := int64(homefs.Append)
		var base *homefs.Download
		switch {
		case flags.Trunc || flags.Excl:
			offset = 0
		case !flags.Append:
			if _, unfinished, err := f.Held(r.Filepath); err == nil && !unfinished {
				if dl, err := f.OpenDownload(r.Filepath); err == nil {
					base, offset = dl, 0
				}
			}
		}
		if !h.s.opened() {
			closeBase(base)
			return errShuttingDown
		}
		st, err := f.BeginStream(r.Filepath, offset)
		if err != nil {
			closeBase(base)
			h.s.closed()
			if !errors.Is(err, homefs.ErrOutside) { // do logs that one as a warning
				h.s.log.Info("upload refused", "path", r.Filepath, "err", err)
			}
			return err
		}
		u = &upload{s: h.s, tell: h.tell, stream: st, base: base, start: time.Now(), low: -1}
		h.s.mu.Lock()
		h.s.uploads[u] = true
		h.s.mu.Unlock()
		if st.Offset() > 0 {
			h.s.log.Info("upload resumed", "path", st.Path(), "offset", st.Offset())
		}
		return nil
	})
	return u, err
}

func closeBase(base *homefs.Download) {
	if base != nil {
		base.Close()
	}
}

var errShuttingDown = errors.New("server shutting down")

// Filecmd runs setstat, rename, mkdir, rmdir and remove. Links are refused; setstat changes the
// modification time only (what sftp -p and scp -p send): permissions and owners are accepted and
// ignored (files are kept with mode 0600), and a size change is refused, but for a file this
// session is uploading, whose size may be set to what was written (scp does, before it closes).
func (h *handlers) Filecmd(r *sftp.Request) error {
	return h.do(func(f *homefs.FS) error {
		switch r.Method {
		case "Setstat":
			return h.setstat(f, r)
		case "Rename":
			if _, err := f.Stat(r.Target); err == nil {
				return &homefs.Error{Kind: homefs.ErrExists, Path: r.Target}
			}
			return f.Rename(r.Filepath, r.Target)
		case "Mkdir":
			_, err := f.Mkdir(r.Filepath, false)
			return err
		case "Rmdir":
			return f.Rmdir(r.Filepath)
		case "Remove":
			return f.Remove(r.Filepath)
		case "Link", "Symlink":
			return errNoLinks
		}
		return sftp.ErrSSHFxOpUnsupported
	})
}

var (
	errNoLinks = &status{code: sftp.ErrSSHFxPermissionDenied, msg: "links are not supported on this server"}
	errNoSize  = &status{code: sftp.ErrSSHFxOpUnsupported, msg: "changing a file's size is not supported"}
)

// setstat changes what it can of a file: the path is checked first (in the home, existing, not
// reserved), as for every request that names one, so that a change that is ignored is not
// reported done for a path that is refused or missing.
func (h *handlers) setstat(f *homefs.FS, r *sftp.Request) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	if attrs == nil {
		return &status{code: sftp.ErrSSHFxBadMessage, msg: "unreadable attributes"}
	}
	u := h.s.uploading(r.Filepath)
	if u == nil {
		if _, err := f.StatHeld(r.Filepath); err != nil {
			return err
		}
	}
	switch {
	case flags.Size && u == nil:
		return errNoSize
	case flags.Size:
		if err := u.setSize(int64(attrs.Size)); err != nil {
			return err
		}
	}
	if !flags.Acmodtime {
		return nil
	}
	mtime := time.Unix(int64(attrs.Mtime), 0)
	if u != nil {
		u.stream.SetMtime(mtime) // fsetstat before close: the file gets it when published
		return nil
	}
	return f.Chtimes(r.Filepath, mtime)
}

// uploading returns the open upload of the path p, if any.
func (s *session) uploading(p string) *upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u := range s.uploads {
		if u.stream.Path() == path.Clean("/"+p) {
			return u
		}
	}
	return nil
}

// PosixRename replaces the target, as the posix-rename@openssh.com extension asks.
func (h *handlers) PosixRename(r *sftp.Request) error {
	return h.do(func(f *homefs.FS) error { return f.Rename(r.Filepath, r.Target) })
}

// StatVFS answers df from the quota: the size is the quota, the free space what is left of it.
// The path must name a file or directory of the home, as for every request that names one.
func (h *handlers) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	if err := h.do(func(f *homefs.FS) error { _, err := f.StatHeld(r.Filepath); return err }); err != nil {
		return nil, err
	}
	used, quota := h.s.fs.Usage()
	const bsize = 4096
	free := uint64(max(quota-used, 0)) / bsize
	return &sftp.StatVFS{Bsize: bsize, Frsize: bsize, Blocks: uint64(quota) / bsize, Bfree: free, Bavail: free,
		Namemax: homefs.MaxNameLen}, nil
}

// Filelist lists a directory, or describes one name (stat, lstat). A file whose upload is
// unfinished is described by the bytes received so far, so that a client resuming the upload
// continues at the right byte; listings show complete files only.
func (h *handlers) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	var list listerAt
	err := h.do(func(f *homefs.FS) error {
		switch r.Method {
		case "List":
			return f.List(r.Filepath, true, func(e homefs.Entry) error {
				list = append(list, e.Info())
				return nil
			})
		case "Stat":
			e, err := f.StatHeld(r.Filepath)
			list = listerAt{e.Info()}
			return err
		case "Readlink":
			return errNoLinks
		}
		return sftp.ErrSSHFxOpUnsupported
	})
	return list, err
}

// Lstat is Stat: the home's symbolic links, made by an administrator, are followed inside it.
func (h *handlers) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	r.Method = "Stat"
	return h.Filelist(r)
}

// listerAt serves a listing from memory.
type listerAt []os.FileInfo

func (l listerAt) ListAt(ls []os.FileInfo, offset int64) (int, error) {
	if offset >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(ls, l[offset:])
	if n < len(ls) {
		return n, io.EOF
	}
	return n, nil
}

// status is an error with the SFTP status code the client gets, and a message for the clients
// that show it (OpenSSH's sftp shows only the code's name, "Failure"; WinSCP, FileZilla, lftp and
// pkg/sftp's client show the message).
type status struct {
	code error // one of sftp.ErrSSHFx...
	msg  string
}

func (e *status) Error() string { return e.msg }
func (e *status) Unwrap() error { return e.code }

// statusErr maps an error of the core to the SFTP status the client gets; it is the one place
// where the door decides codes: no such file, permission denied (leaving the home, names the
// server refuses), or failure with the homefs message (quota, busy, not empty...). A failure of
// what the server depends on (door.TryAgain: the store, the quota accounting, the account
// database) is a failure too, SFTP (version 3) having no code for a transient one, with the
// message "storage unavailable, try again later: /PATH" or the like.
func statusErr(err error) error {
	if msg, ok := door.TryAgain(err); ok {
		return &status{code: sftp.ErrSSHFxFailure, msg: msg}
	}
	var he *homefs.Error
	if err == nil || !errors.As(err, &he) {
		if errors.Is(err, errAccountGone) || errors.Is(err, errShuttingDown) {
			return &status{code: sftp.ErrSSHFxPermissionDenied, msg: err.Error()}
		}
		return err
	}
	code := sftp.ErrSSHFxFailure
	switch {
	case errors.Is(he.Kind, homefs.ErrNotFound):
		code = sftp.ErrSSHFxNoSuchFile
	case errors.Is(he.Kind, homefs.ErrOutside), errors.Is(he.Kind, homefs.ErrPermission), errors.Is(he.Kind, homefs.ErrInvalidPath):
		code = sftp.ErrSSHFxPermissionDenied
	}
	return &status{code: code, msg: he.Error()}
}

// upload is a handle open to write: a homefs stream.
type upload struct {
	s      *session
	tell   *teller
	stream *homefs.Stream
	base   *homefs.Download // the stored file a plain write rewrites in place, or nil
	start  time.Time

	mu          sync.Mutex
	low         int64 // the lowest offset written, or -1
	sized       bool  // the client set the size: the file ends where its writes end
	interrupted error // the connection ended with the handle open
	writeErr    error // a write or a change of size failed
	told        bool  // a failure was told to the client (teller)
}

// WriteAt writes a piece of the file. A write that fails (past the quota, a disk error) fails
// the upload: the file is not published when the handle is closed, even if no byte is missing
// before the failed write, since a client that goes on to close the handle (OpenSSH does, after
// a failed write) would otherwise leave a truncated file under the name.
func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	var n int
	err := u.s.stillAllowed()
	if err == nil {
		n, err = u.stream.WriteAt(p, off)
	}
	u.mu.Lock()
	if err != nil && u.writeErr == nil {
		u.writeErr = err
	}
	if n > 0 && (u.low < 0 || off < u.low) {
		u.low = off
	}
	u.mu.Unlock()
	return n, u.status(err)
}

// setSize sets the size of the file being uploaded. Only the size written so far is possible:
// the file ends there (no byte of a stored file it rewrites is kept past it). Any other size
// fails the upload, since the file could not be what the client asks for.
func (u *upload) setSize(n int64) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if n != u.stream.Size() {
		if u.writeErr == nil {
			u.writeErr = errNoSize
		}
		return errNoSize
	}
	u.sized = true
	return nil
}

// TransferError notes that the connection ended with the file open: the upload is kept for a
// resume, not published.
func (u *upload) TransferError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.interrupted = err
}

// Close publishes the file (the client closed the handle) or keeps what arrived.
func (u *upload) Close() error {
	defer u.s.closed()
	u.s.mu.Lock()
	delete(u.s.uploads, u)
	u.s.mu.Unlock()
	u.mu.Lock()
	interrupted, err := u.interrupted, u.writeErr
	u.mu.Unlock()
	received := u.stream.Size() - u.stream.Offset()
	switch {
	case interrupted != nil:
		u.release()
		u.s.log.Info("upload interrupted", "path", u.stream.Path(), "received", u.stream.Size(), "reason", interrupted)
	case err != nil:
		u.release()
		u.s.log.Info("upload failed", "path", u.stream.Path(), "err", err)
	default:
		err = u.commit()
	}
	u.s.logTransfer(logger.Incoming, u.stream.Path(), received, u.start, interrupted == nil && err == nil)
	return u.status(err)
}

// status is statusErr(err); the upload's first failure is told to the client.
func (u *upload) status(err error) error {
	err = statusErr(err)
	if msg, ok := failure(err); ok && u.tell != nil {
		u.mu.Lock()
		first := !u.told
		u.told = true
		u.mu.Unlock()
		if first {
			u.tell.tell(msg)
		}
	}
	return err
}

// release keeps what arrived for a resume (see homefs.Stream.Abort) and closes the stored file.
func (u *upload) release() {
	u.stream.Abort()
	closeBase(u.base)
}

// commit publishes the file if the account may still store it.
func (u *upload) commit() error {
	if err := u.s.allowed(); err != nil {
		u.release()
		return err
	}
	if err := u.fill(); err != nil {
		u.release()
		u.s.log.Info("upload failed", "path", u.stream.Path(), "err", err)
		return err
	}
	closeBase(u.base)
	e, sum, err := u.stream.Commit()
	if err != nil {
		u.s.log.Info("upload failed", "path", u.stream.Path(), "err", err)
		return err
	}
	u.s.log.Info("upload complete", "path", u.stream.Path(), "size", e.Size, u.stream.Checksum(), sum, "resumed_at", u.stream.Offset())
	return nil
}

// fill completes a file rewritten in place with the bytes of the stored file the client did not
// write: those before its first write and after its last, unless it set the size. Bytes left
// unwritten between two writes stay a gap, and Commit refuses the file.
func (u *upload) fill() error {
	if u.base == nil {
		return nil
	}
	u.mu.Lock()
	low, sized := u.low, u.sized
	u.mu.Unlock()
	if sized {
		return nil
	}
	size, stored := u.stream.Size(), u.base.Info.Size
	if low < 0 { // nothing written: the file stays as it was
		low = size
	}
	for _, r := range [][2]int64{{0, min(low, stored)}, {size, stored}} {
		if r[0] >= r[1] {
			continue
		}
		if _, err := io.Copy(io.NewOffsetWriter(u.stream, r[0]), io.NewSectionReader(u.base, r[0], r[1]-r[0])); err != nil {
			return err
		}
	}
	return nil
}

// download is a handle open to read: a stored file.
type download struct {
	s     *session
	tell  *teller
	dl    *homefs.Download
	start time.Time

	mu   sync.Mutex
	sent int64
	end  bool // a read reached the end of the file
}

func (d *download) ReadAt(p []byte, off int64) (int, error) {
	if err := d.s.stillAllowed(); err != nil {
		return 0, d.tell.status(err)
	}
	n, err := d.dl.ReadAt(p, off)
	d.mu.Lock()
	d.sent += int64(n)
	if off+int64(n) >= d.dl.Info.Size {
		d.end = true
	}
	d.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		return n, d.tell.status(&homefs.Error{Kind: homefs.ErrIO, Path: d.dl.Info.Name, Err: err})
	}
	return n, err
}

func (d *download) Close() error {
	defer d.s.closed()
	d.dl.Close()
	d.mu.Lock()
	sent, end := d.sent, d.end
	d.mu.Unlock()
	if !end {
		d.s.log.Info("download interrupted", "path", d.dl.Path, "sent", sent, "size", d.dl.Info.Size)
	}
	d.s.logTransfer(logger.Outgoing, d.dl.Path, sent, d.start, end)
	return nil
}

// logTransfer writes one line to the transfer log, as the sftp service.
func (s *session) logTransfer(dir logger.Direction, vpath string, bytes int64, start time.Time, complete bool) {
	s.mu.Lock()
	acct := s.acct
	s.mu.Unlock()
	s.d.cfg.LogTransfer(door.Transfer{Service: "sftp", Account: acct, Remote: s.remote, Dir: dir, Path: vpath,
		Bytes: bytes, Start: start, Complete: complete})
}
