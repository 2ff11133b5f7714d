package sftpdoor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// SFTP version 3 (draft-ietf-secsh-filexfer-02), as the door reads and writes it: a packet is a
// uint32 length and that many bytes, the first of them its type; every request but INIT then has
// a uint32 id, which its reply repeats. Strings are a uint32 length and that many bytes.

// Packet types.
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpOpen          = 3
	fxpClose         = 4
	fxpRead          = 5
	fxpWrite         = 6
	fxpLstat         = 7
	fxpFstat         = 8
	fxpSetstat       = 9
	fxpFsetstat      = 10
	fxpOpendir       = 11
	fxpReaddir       = 12
	fxpRemove        = 13
	fxpMkdir         = 14
	fxpRmdir         = 15
	fxpRealpath      = 16
	fxpStat          = 17
	fxpRename        = 18
	fxpReadlink      = 19
	fxpSymlink       = 20
	fxpStatus        = 101
	fxpHandle        = 102
	fxpData          = 103
	fxpName          = 104
	fxpAttrs         = 105
	fxpExtended      = 200
	fxpExtendedReply = 201
)

// Status codes.
const (
	fxOK               = 0
	fxEOF              = 1
	fxNoSuchFile       = 2
	fxPermissionDenied = 3
	fxFailure          = 4
	fxBadMessage       = 5
	fxOpUnsupported    = 8
)

// Attribute flags.
const (
	attrSize        = 0x1
	attrPermissions = 0x4
	attrACModTime   = 0x8
)

// Unix file types and special bits in an SFTP mode (st_mode).
const (
	modeType    = 0o170000
	modeSocket  = 0o140000
	modeSymlink = 0o120000
	modeRegular = 0o100000
	modeBlock   = 0o060000
	modeDir     = 0o040000
	modeChar    = 0o020000
	modeFIFO    = 0o010000
	modeSetuid  = 0o4000
	modeSetgid  = 0o2000
	modeSticky  = 0o1000
)

var (
	// errBadMessage is a request whose fields do not fit in its packet.
	errBadMessage = errors.New("malformed request")
	// errLongPacket is a packet longer than the door reads (limitsPacket): the session ends.
	errLongPacket = errors.New("sftpdoor: packet longer than the server accepts")
)

// decoder reads the fields of a packet in order. A field that does not fit in what is left
// reads as zero and sets err, which stays set.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		d.err = errBadMessage
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// bytes reads a string field without copying it: the slice is the packet's.
func (d *decoder) bytes() []byte {
	n := d.u32()
	if d.err != nil || uint64(n) > uint64(len(d.b)) {
		d.err = errBadMessage
		return nil
	}
	return d.take(int(n))
}

func (d *decoder) str() string { return string(d.bytes()) }

// rest returns what is left of the packet.
func (d *decoder) rest() []byte {
	v := d.b
	d.b = nil
	return v
}

// readPacket reads the next packet from r: its bytes after the length, into the slice of that
// length that bufFor returns. A packet longer than limit is errLongPacket, an empty one
// errBadMessage.
func readPacket(r io.Reader, limit uint32, bufFor func(n uint32) []byte) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	switch {
	case n > limit:
		return nil, fmt.Errorf("%w: %d bytes, at most %d", errLongPacket, n, limit)
	case n == 0:
		return nil, fmt.Errorf("sftpdoor: empty packet: %w", errBadMessage)
	}
	buf := bufFor(n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// startReply begins a reply of type typ in b (reused): room for the length, which finishReply
// writes, the type and the id.
func startReply(b []byte, typ byte, id uint32) []byte {
	b = append(b[:0], 0, 0, 0, 0, typ)
	return binary.BigEndian.AppendUint32(b, id)
}

// finishReply writes the length of the reply b, and returns it.
func finishReply(b []byte) []byte {
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// appendAttrs appends the attributes of fi: size, permissions with the file's type, and times
// (the modification time for both); no owner: the door does not show the server's accounts.
func appendAttrs(b []byte, fi os.FileInfo) []byte {
	mtime := uint32(fi.ModTime().Unix())
	b = binary.BigEndian.AppendUint32(b, attrSize|attrPermissions|attrACModTime)
	b = binary.BigEndian.AppendUint64(b, uint64(fi.Size()))
	b = binary.BigEndian.AppendUint32(b, sftpMode(fi.Mode()))
	b = binary.BigEndian.AppendUint32(b, mtime)
	return binary.BigEndian.AppendUint32(b, mtime)
}

// sftpMode is a Go file mode as SFTP states it (the Unix st_mode).
func sftpMode(m os.FileMode) uint32 {
	v := uint32(m.Perm())
	switch {
	case m.IsDir():
		v |= modeDir
	case m&os.ModeSymlink != 0:
		v |= modeSymlink
	case m&os.ModeNamedPipe != 0:
		v |= modeFIFO
	case m&os.ModeSocket != 0:
		v |= modeSocket
	case m&os.ModeCharDevice != 0:
		v |= modeChar
	case m&os.ModeDevice != 0:
		v |= modeBlock
	case m.IsRegular():
		v |= modeRegular
	}
	for _, special := range []struct {
		mode os.FileMode
		bit  uint32
	}{{os.ModeSetuid, modeSetuid}, {os.ModeSetgid, modeSetgid}, {os.ModeSticky, modeSticky}} {
		if m&special.mode != 0 {
			v |= special.bit
		}
	}
	return v
}

// lsMode is the mode column of `ls -l` for the SFTP mode v: the type's letter, then rwx three
// times, with s/S and t/T where setuid, setgid and sticky are.
func lsMode(v uint32) string {
	t := byte('?')
	switch v & modeType {
	case modeRegular:
		t = '-'
	case modeDir:
		t = 'd'
	case modeSymlink:
		t = 'l'
	case modeFIFO:
		t = 'p'
	case modeSocket:
		t = 's'
	case modeChar:
		t = 'c'
	case modeBlock:
		t = 'b'
	}
	b := []byte{t}
	for i, special := range []struct {
		bit      uint32
		set, not byte // the letter with and without execute
	}{{modeSetuid, 's', 'S'}, {modeSetgid, 's', 'S'}, {modeSticky, 't', 'T'}} {
		perm := v >> (6 - 3*i) & 7
		for j, c := range "rw" {
			if perm&(4>>j) != 0 {
				b = append(b, byte(c))
			} else {
				b = append(b, '-')
			}
		}
		x := byte('-')
		switch {
		case v&special.bit != 0 && perm&1 != 0:
			x = special.set
		case v&special.bit != 0:
			x = special.not
		case perm&1 != 0:
			x = 'x'
		}
		b = append(b, x)
	}
	return string(b)
}

// longName is the line `ls -l` shows for fi (the long name of a READDIR entry), in the form
// OpenSSH's sftp-server gives: mode, links, owner, group, size, date, name.
func longName(fi os.FileInfo, now time.Time) string {
	mt := fi.ModTime()
	date := mt.Format("Jan _2 15:04")
	if d := now.Sub(mt); d > 182*24*time.Hour || d < -182*24*time.Hour {
		date = mt.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s %4d %-8d %-8d %8d %s %s", lsMode(sftpMode(fi.Mode())), 1, 0, 0, fi.Size(), date, fi.Name())
}
