package ftpdoor

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	ftpserver "github.com/fclairamb/ftpserverlib"

	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/lib/homefs"
)

// GetHandle opens a file for a transfer (RETR, STOR, APPE; offset is REST's). An upload goes to a
// homefs stream: STOR starts afresh, REST N then STOR continues at byte N (which must be what the
// server holds, as SIZE reports it), APPE continues at the end. The engine closes the handle when
// the data connection ends, after TransferError if it ended badly.
func (f *files) GetHandle(name string, flags int, offset int64) (ftpserver.FileTransfer, error) {
	defer f.s.work()()
	if err := f.s.allowed(); err != nil {
		return nil, err
	}
	if !f.s.beginTransfer() {
		return nil, errShuttingDown
	}
	var h ftpserver.FileTransfer
	var err error
	if flags&(os.O_WRONLY|os.O_RDWR) != 0 {
		h, err = f.openUpload(name, flags, offset)
	} else {
		h, err = f.openDownload(name)
	}
	if err != nil {
		f.s.endTransfer(true) // the engine sends the refusal
		return nil, replyErr(f.s, err)
	}
	return h, nil
}

func (f *files) openUpload(name string, flags int, offset int64) (*upload, error) {
	f.s.mu.Lock()
	refused := f.s.allo
	f.s.allo = false
	f.s.mu.Unlock()
	if refused {
		return nil, &replyError{kind: ftpserver.ErrStorageExceeded, msg: "quota exceeded: the ALLO before this upload was refused"}
	}
	if flags&os.O_APPEND != 0 {
		offset = homefs.Append
	}
	st, err := f.s.fs.BeginStream(name, offset)
	if err != nil {
		if !errors.Is(err, homefs.ErrOutside) { // replyErr logs that one as a warning
			f.s.log.Info("upload refused", "path", name, "offset", offset, "err", err)
		}
		return nil, err
	}
	u := &upload{s: f.s, stream: st, start: time.Now()}
	f.s.mu.Lock()
	f.s.streams[u] = true
	f.s.mu.Unlock()
	if st.Offset() > 0 {
		f.s.log.Info("upload resumed", "path", st.Path(), "offset", st.Offset())
	}
	return u, nil
}

func (f *files) openDownload(name string) (*download, error) {
	dl, err := f.s.fs.OpenDownload(name)
	if err != nil {
		return nil, err
	}
	d := &download{s: f.s, dl: dl, vpath: name, start: time.Now()}
	if algo := f.s.fs.StreamChecksum(); dl.Recorded(algo) == "" {
		d.hash = f.s.fs.NewHash(algo) // read whole, the file gets its checksum recorded
	}
	return d, nil
}

// upload is the engine's handle on a homefs stream.
type upload struct {
	s       *session
	stream  *homefs.Stream
	start   time.Time
	failed  error // set by TransferError: the data connection ended badly
	refused error // set by ReadFrom: the stream refused the data, and Close returns why
	moved   bool  // data was asked for: the data connection opened, and the engine replies after Close
}

func (u *upload) Write(p []byte) (int, error) {
	u.moved = true
	n, err := u.stream.Write(p)
	return n, replyErr(u.s, err)
}

// ReadFrom takes the whole data connection (io.Copy calls it), into the stream's buffers. When
// the stream refuses the data (a homefs error: the quota, the disk, the store; not a failure of
// the connection), what the client still sends is read and discarded (drainRefused), and the
// refusal is left for Close to return: the engine replies with Close's error as it is, where it
// would present an error of the copy as a "network error".
func (u *upload) ReadFrom(r io.Reader) (int64, error) {
	u.moved = true
	n, err := u.stream.ReadFrom(u.s.boundReads(r))
	var he *homefs.Error
	if !errors.As(err, &he) {
		return n, err
	}
	u.s.drainRefused(r, u.stream.Path())
	u.refused = err
	return n, nil
}

func (u *upload) Read([]byte) (int, error) { return 0, errUnsupported }

// Seek accepts the position the stream already starts at (the engine seeks to REST's offset).
func (u *upload) Seek(off int64, whence int) (int64, error) {
	if whence != io.SeekStart || off != u.stream.Offset() {
		return 0, &replyError{msg: fmt.Sprintf("cannot seek an upload to %d", off)}
	}
	return off, nil
}

// TransferError notes that the data connection ended badly: ABOR, a reset, a TLS stream cut
// without close_notify, a Write the stream refused (ReadFrom leaves its refusals to Close).
func (u *upload) TransferError(err error) { u.failed = err }

// Close publishes the file if its data connection ended cleanly, or keeps what arrived for a
// resume (homefs drops what passed the quota), and returns the stream's refusal if it refused
// the data; either way one line goes to the transfer log.
func (u *upload) Close() error {
	defer func() { u.s.endTransfer(u.moved) }()
	u.s.mu.Lock()
	delete(u.s.streams, u)
	u.s.mu.Unlock()
	var err error
	switch {
	case u.failed != nil:
		u.stream.Abort()
		u.s.log.Info("upload interrupted", "path", u.stream.Path(), "received", u.stream.Size(), "reason", u.failed)
	case u.refused != nil:
		err = u.refused
		u.stream.Abort()
		u.s.log.Info("upload refused", "path", u.stream.Path(), "received", u.stream.Size(), "err", err)
	default:
		err = u.commit()
	}
	u.s.logTransfer(logger.Incoming, u.stream.Path(), u.stream.Size()-u.stream.Offset(), u.start, u.failed == nil && err == nil)
	return replyErr(u.s, err)
}

// commit publishes the upload, if the account may still write.
func (u *upload) commit() error {
	if err := u.s.allowed(); err != nil {
		u.stream.Abort()
		return err
	}
	e, sum, err := u.stream.Commit()
	if err != nil {
		u.s.log.Info("upload failed", "path", u.stream.Path(), "err", err)
		return err
	}
	u.s.log.Info("upload complete", "path", u.stream.Path(), "size", e.Size, u.stream.Checksum(), sum, "resumed_at", u.stream.Offset())
	return nil
}

// download is the engine's handle on a stored file. Read from its start to its end, the file's
// checksum (the store's stream checksum, what FTP's HASH asks for) is computed on the way, if none
// is recorded, and recorded.
type download struct {
	s     *session
	dl    *homefs.Download
	vpath string
	start time.Time
	hash  hash.Hash // nil once the md5 is not worth computing
	pos   int64
	sent  int64
	moved bool // data was asked for: the data connection opened, and the engine replies after Close
}

func (d *download) Read(p []byte) (int, error) {
	d.moved = true
	n, err := d.dl.Read(p)
	if d.hash != nil {
		d.hash.Write(p[:n])
	}
	d.pos += int64(n)
	d.sent += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		err = replyErr(d.s, &homefs.Error{Kind: homefs.ErrIO, Path: d.vpath, Err: err})
	}
	return n, err
}

// WriteTo sends the file to the data connection w (io.Copy calls it), as io.Copy would with
// Read, but bounds each write if w is an active-mode connection (see boundWrites).
func (d *download) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(d.s.boundWrites(w), onlyReader{d})
}

// onlyReader hides every method of a reader but Read, so that io.Copy does not call WriteTo again.
type onlyReader struct{ io.Reader }

// Seek moves to REST's offset; the md5 is not computed for a part of the file.
func (d *download) Seek(off int64, whence int) (int64, error) {
	pos, err := d.dl.Seek(off, whence)
	d.pos = pos
	if pos != 0 {
		d.hash = nil
	}
	return pos, err
}

func (d *download) Write([]byte) (int, error) { return 0, errUnsupported }

func (d *download) Close() error {
	defer func() { d.s.endTransfer(d.moved) }()
	complete := d.pos == d.dl.Info.Size
	if d.hash != nil && complete {
		d.s.fs.Record(d.dl, d.hash)
	}
	if !complete {
		d.s.log.Info("download interrupted", "path", d.dl.Path, "sent", d.sent, "size", d.dl.Info.Size)
	}
	d.dl.Close()
	d.s.logTransfer(logger.Outgoing, d.dl.Path, d.sent, d.start, complete)
	return nil
}

// logTransfer writes one line to the transfer log, as the ftp service.
func (s *session) logTransfer(dir logger.Direction, vpath string, bytes int64, start time.Time, complete bool) {
	s.mu.Lock()
	acct := s.acct
	s.mu.Unlock()
	s.d.cfg.LogTransfer(door.Transfer{Service: "ftp", Account: acct, Remote: s.remote, Dir: dir, Path: vpath,
		Bytes: bytes, Start: start, Complete: complete})
}
