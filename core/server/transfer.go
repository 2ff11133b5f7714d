package server

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/myftp/myftp/core/door"
	"github.com/myftp/myftp/core/logger"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/proto"
	"github.com/myftp/myftp/lib/transfer"
)

var timeZero time.Time

// accountCheckEvery is how often an upload's data frames look the account up again, so that a
// deleted or disabled account's upload stops within a fraction of a second, not at its end.
const accountCheckEvery = 200 * time.Millisecond

func deadline(d time.Duration) time.Time { return time.Now().Add(d) }

// upload is the session's open upload.
type upload struct {
	*homefs.Upload
	start time.Time
}

// cmdPut opens an upload: quota is reserved and the offset decided before any data flows. (A put
// while another upload is open has ended that one already: see request.)
func (s *session) cmdPut(req proto.Request) error {
	u, err := s.fs.BeginUpload(req.Path, req.Size, req.Mtime, req.Resume, req.Algorithm())
	if err != nil {
		if !errors.Is(err, homefs.ErrOutside) { // request logs that one as a warning
			s.log.Info("upload refused", "path", req.Path, "size", req.Size, "err", err)
		}
		return err
	}
	s.setUpload(&upload{Upload: u, start: time.Now()})
	msg := "send data"
	if u.Offset() > 0 {
		msg = fmt.Sprintf("resuming at byte %d", u.Offset())
		s.log.Info("upload resumed", "path", u.Path(), "offset", u.Offset())
	}
	if u.Restart() != "" {
		msg = "restarting from zero: " + u.Restart()
	}
	rep := proto.Reply{Code: proto.CodeSendData, Msg: msg, Offset: u.Offset(), Checksum: u.Checksum(), PrefixSum: u.PrefixSum(),
		Restart: u.Restart()}
	if u.Checksum() == checksum.MD5 {
		rep.PrefixMD5 = u.PrefixSum()
	}
	s.reply(rep)
	return nil
}

// digests fills in rep the checksum sum of algo: in Sum, and in MD5 as well for md5 (what clients
// before checksum read).
func digests(rep proto.Reply, algo, sum string) proto.Reply {
	rep.Checksum, rep.Sum = algo, sum
	if algo == checksum.MD5 {
		rep.MD5 = sum
	}
	return rep
}

// data appends one data frame of n bytes to the open upload. The bytes go from the network
// straight into the upload's buffers; the disk write and the md5 run beside the next read.
func (s *session) data(n int) error {
	if s.up == nil {
		// Skip the payload now: left unread, it would count as a buffered request and hold back
		// the flush of this reply (the client then waits for it forever). This is the common case
		// after an upload failed mid-stream, with the client's window of frames still arriving.
		if _, err := io.Copy(io.Discard, s.r); err != nil {
			return err
		}
		return errNoUpload
	}
	if time.Since(s.checked) >= accountCheckEvery {
		if err := s.stillAllowed(); errors.Is(err, door.ErrAccountGone) {
			// The account was deleted or disabled during the upload: it stops here, not at done.
			s.abortUpload("account disabled or deleted")
			return nil
		} else if err != nil {
			// The account cannot be verified: the upload stops, kept for a resume.
			io.Copy(io.Discard, s.r) // the refused frame
			s.abortUpload("account not verified")
			return err
		}
	}
	if err := s.up.Receive(s.r, int64(n)); err != nil {
		var he *homefs.Error
		if !errors.As(err, &he) {
			// The connection failed mid-frame (or the server is stopping): the stream is out of
			// step, so the session ends as for any failed read.
			s.abortUpload(err.Error())
			s.end(err)
			return nil
		}
		io.Copy(io.Discard, s.r) // the rest of the refused frame
		s.log.Info("upload failed", "path", s.up.Path(), "err", err)
		s.abortUpload(err.Error())
		return err
	}
	s.reply(proto.Reply{Code: proto.CodeOK})
	return nil
}

// cmdDone verifies the open upload and starts publishing it; its reply comes when it is stored
// (see publish).
func (s *session) cmdDone(req proto.Request) error {
	up := s.up
	if up == nil {
		return errNoUpload
	}
	if !checksum.Valid(up.Checksum(), req.Digest()) {
		return fmt.Errorf("%w: done: sum: want the %s of the file, %d hex digits", proto.ErrBadArgs, up.Checksum(), 2*checksum.Size(up.Checksum()))
	}
	s.setUpload(nil)
	if err := up.Verify(req.Digest()); err != nil {
		s.logTransfer(logger.Incoming, up.Path(), up.Written()-up.Offset(), up.start, false)
		s.log.Info("upload failed", "path", up.Path(), "err", err)
		return err
	}
	s.publish(up, req.Digest())
	return nil
}

// setUpload makes up the session's open upload; nil: none.
func (s *session) setUpload(up *upload) {
	s.up = up
	s.uploading.Store(up != nil)
}

// abortUpload closes the open upload, keeping its partial file.
func (s *session) abortUpload(why string) {
	up := s.up
	s.setUpload(nil)
	up.Abort()
	s.logTransfer(logger.Incoming, up.Path(), up.Written()-up.Offset(), up.start, false)
	s.log.Info("upload interrupted", "path", up.Path(), "received", up.Written(), "reason", why)
}

// cmdGet sends a file: a 150 reply with its size, modification time, the offset the data starts
// at and, when recorded, its checksum in the algorithm asked for; then data frames; then a 226
// reply with the checksum of the whole file. A resume (offset > 0) continues only if the client's
// prefix checksum matches the file's.
func (s *session) cmdGet(req proto.Request) error {
	dl, err := s.fs.OpenDownload(req.Path)
	if err != nil {
		return err
	}
	defer dl.Close()
	start := time.Now()
	algo := req.Algorithm()
	recorded := dl.Recorded(algo)
	var h hash.Hash // what hashes the file on its way, for the record; nil: it has one
	var offset int64
	var restart string
	if req.Offset > 0 || recorded == "" {
		if h, offset, restart, err = s.fs.ResumeDownload(dl, req.Offset, req.Prefix(), algo); err != nil {
			return err
		}
	}
	s.reply(digests(proto.Reply{Code: proto.CodeDataFollows, Msg: fmt.Sprintf("sending %d bytes from byte %d", dl.Info.Size-offset, offset),
		Size: dl.Info.Size, Mtime: dl.Info.Mtime.UTC(), Offset: offset, Restart: restart}, algo, recorded))
	if recorded != "" {
		h = nil // no need to hash
	}
	sent, err := s.sendFile(dl, offset, h)
	vpath := dl.Path // as homefs resolved it
	s.logTransfer(logger.Outgoing, vpath, sent, start, err == nil)
	if err != nil {
		if errors.Is(err, errWrite) { // the client went away, or stopped reading
			s.log.Info("download interrupted", "path", vpath, "sent", sent, "size", dl.Info.Size, "resumed_at", offset)
			return nil
		}
		s.log.Error("download failed", "path", vpath, "err", err)
		s.reply(proto.Reply{Code: proto.CodeLocalError, Msg: "read error on the server; download aborted"})
		return nil
	}
	sum := recorded
	if h != nil {
		sum = hex.EncodeToString(h.Sum(nil))
		s.fs.Record(dl, h)
	}
	s.log.Info("download complete", "path", vpath, "size", dl.Info.Size, algo, sum, "resumed_at", offset)
	s.reply(digests(proto.Reply{Code: proto.CodeTransferDone, Msg: "File [" + dl.Info.Name + "] download successful",
		Size: dl.Info.Size, Offset: offset}, algo, sum))
	return nil
}

// cmdSum answers the checksum of a file in the algorithm asked for: the recorded one, or computed
// (and recorded) by reading the file.
func (s *session) cmdSum(req proto.Request) error {
	algo := req.Algorithm()
	sum, err := s.fs.Checksum(req.Path, algo)
	if err != nil {
		return err
	}
	s.reply(digests(proto.Reply{Code: proto.CodeOK, Msg: algo + " " + sum}, algo, sum))
	return nil
}

// sendFile writes the file from offset as data frames, hashing into h if it is not nil. Reading
// the file, hashing and encrypting run on different goroutines (a transfer.Sink). It returns the
// bytes sent; errWrite when the connection failed (nothing more can be said to the client).
func (s *session) sendFile(dl *homefs.Download, offset int64, h hash.Hash) (int64, error) {
	total := dl.Info.Size - offset
	sink := transfer.NewSink(frameWriter{s}, h, total)
	r := io.NewSectionReader(dl, offset, total)
	var read int64
	var rerr error
	for read < total && sink.Err() == nil {
		b := sink.Buffer()
		n, err := io.ReadFull(r, b[:min(int64(len(b)), total-read)])
		if n > 0 {
			sink.Submit(b[:n])
			read += int64(n)
		}
		if err != nil {
			rerr = fmt.Errorf("file shrank while sending: %d of %d bytes: %w", read, total, err)
			break
		}
	}
	if err := sink.Close(); err != nil {
		return read, errWrite
	}
	return read, rerr
}

// frameWriter sends each Write as one data frame, under the write timeout.
type frameWriter struct{ s *session }

func (w frameWriter) Write(b []byte) (int, error) {
	if err := w.s.writeFrame(proto.TypeData, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// logTransfer writes one line to the transfer log.
func (s *session) logTransfer(dir logger.Direction, vpath string, bytes int64, start time.Time, complete bool) {
	s.logTransferOf(s.acct, dir, vpath, bytes, start, complete)
}

// logTransferOf is logTransfer for the account acct (as it was when an upload being published
// began: the session may have refreshed its own since).
func (s *session) logTransferOf(acct account.Account, dir logger.Direction, vpath string, bytes int64, start time.Time, complete bool) {
	s.srv.cfg.LogTransfer(door.Transfer{Service: "myftp", Account: acct, Remote: s.remote, Dir: dir, Path: vpath,
		Bytes: bytes, Start: start, Complete: complete})
}
