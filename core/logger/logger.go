// Package logger opens the server's two logs: the event log (log/slog, text format, to stderr and to
// a file) and the transfer log (one line per transfer in the classic xferlog format of
// wu-ftpd/vsftpd/proftpd). Both files rotate through lumberjack.
//
// Nothing here is global: Open returns the loggers and the caller passes them on.
package logger

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Config says where the logs go and how they rotate.
type Config struct {
	Dir          string        // directory of both files, created 0700 if missing
	EventFile    string        // event log file name
	TransferFile string        // transfer log file name
	Level        string        // debug, info, warn or error
	MaxSize      int64         // bytes before a file is rotated (rounded up to whole MiB)
	MaxBackups   int           // rotated files kept
	MaxAge       time.Duration // rotated files older than this are removed; 0 keeps them
	Compress     bool          // gzip rotated files
}

// Logs holds the open logs. Close them when the server stops.
type Logs struct {
	Event    *slog.Logger
	Transfer *TransferLog
	files    []io.Closer
}

// Open creates the log directory (0700, also when it existed) and opens both logs. The event log
// also goes to stderr (nil for none), as long as stderr takes it: the file gets every line even
// when stderr fails (a closed terminal, a full disk).
func Open(c Config, stderr io.Writer) (*Logs, error) {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open logs: %w", err)
	}
	os.Chmod(c.Dir, 0o700) // a checkout's log/ is 0755; best effort
	var mib int64          // 0: lumberjack's default
	if c.MaxSize > 0 {
		mib = (c.MaxSize-1)>>20 + 1 // rounded up, without overflow
	}
	rotating := func(name string) *lumberjack.Logger {
		return &lumberjack.Logger{
			Filename:   filepath.Join(c.Dir, name),
			MaxSize:    int(mib),
			MaxBackups: c.MaxBackups,
			MaxAge:     int((c.MaxAge + 24*time.Hour - 1) / (24 * time.Hour)),
			Compress:   c.Compress,
			LocalTime:  true,
		}
	}
	ev, xfer := &closingFile{l: rotating(c.EventFile)}, &closingFile{l: rotating(c.TransferFile)}
	var w io.Writer = ev
	if stderr != nil {
		w = tee{file: ev, also: stderr}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("open logs: level %q: %w", c.Level, err)
	}
	return &Logs{
		Event:    slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})),
		Transfer: NewTransferLog(xfer),
		files:    []io.Closer{ev, xfer},
	}, nil
}

// closingFile is a log file that takes no more lines once closed: lumberjack opens its file again
// for a write after Close, so a line logged late (by a goroutine that ends after the server)
// would make the file anew, in a directory that may be on its way out.
type closingFile struct {
	mu     sync.Mutex
	l      *lumberjack.Logger
	closed bool
}

func (c *closingFile) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, os.ErrClosed
	}
	return c.l.Write(p)
}

func (c *closingFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.l.Close()
}

// tee writes to a log file and, best effort, to a second writer: unlike io.MultiWriter, a failing
// second writer does not keep lines from the file.
type tee struct {
	file io.Writer
	also io.Writer
}

func (t tee) Write(p []byte) (int, error) {
	n, err := t.file.Write(p)
	t.also.Write(p)
	return n, err
}

// Close closes the log files.
func (l *Logs) Close() error {
	var first error
	for _, f := range l.files {
		if err := f.Close(); err != nil && first == nil {
			first = fmt.Errorf("close log: %w", err)
		}
	}
	return first
}

// Direction of a transfer as xferlog writes it.
type Direction byte

const (
	Incoming Direction = 'i' // an upload (put)
	Outgoing Direction = 'o' // a download (get)
)

// Transfer is one finished or interrupted transfer.
type Transfer struct {
	End      time.Time     // when it ended
	Duration time.Duration // how long it ran
	Remote   string        // client host (no port)
	Bytes    int64         // bytes that travelled in this transfer
	Path     string        // file name as the server stores it, e.g. /alice/docs/a.txt
	Dir      Direction
	User     string
	Complete bool   // false: interrupted or failed (xferlog status "i")
	Service  string // the door: "myftp" (native, also when empty), "ftp", "sftp"
}

// TransferLog writes xferlog lines. It is safe for concurrent use.
type TransferLog struct {
	mu sync.Mutex
	w  io.Writer
}

// NewTransferLog returns a transfer log writing to w.
func NewTransferLog(w io.Writer) *TransferLog { return &TransferLog{w: w} }

// Log writes one line for t:
//
//	Mon Nov 24 11:50:38 2026 2 127.0.0.1 10485760 /alice/a.txt b _ i r alice myftp 1 * c
//
// The fields are: current time, transfer time in whole seconds (at least 1, as wu-ftpd rounds),
// remote host, bytes, file name, transfer type (b: binary), special action (_: none), direction
// (i: incoming, o: outgoing), access mode (r: real user), user name, service name (the door:
// myftp for the native protocol, ftp, sftp), authentication
// method (1: password), authenticated user id (*: none), completion status (c: complete,
// i: incomplete).
//
// Every transfer is one line of 18 fields, whatever its names hold, for readers that split lines
// on any Unicode line break (Python's splitlines) and fields on any whitespace (split): in the
// remote host, file name and user name, a space is written '_' (as proftpd does), a backslash
// "\\", an ASCII control character (newline, ESC, DEL...) or a byte that is not UTF-8 "\xNN", and
// any other character that is not printable or is a space or separator "\u{XXXX}" in hex: NEL
// "\u{0085}", no-break space "\u{00a0}", U+2028 "\u{2028}", the bidi controls such as "\u{202e}",
// zero-width and other format characters such as "\u{200b}" and "\u{feff}". So a field holds no
// byte below 0x21, no DEL and no Unicode White_Space, and shows no character that reorders or
// hides text; an empty one is "_". The escapes can be undone (a '_' may have been a space).
func (l *TransferLog) Log(t Transfer) error {
	secs := int64((t.Duration + time.Second/2) / time.Second)
	status := 'i'
	if t.Complete {
		status = 'c'
	}
	service := t.Service
	if service == "" {
		service = "myftp"
	}
	line := fmt.Sprintf("%s %d %s %d %s b _ %c r %s %s 1 * %c\n",
		t.End.Format("Mon Jan _2 15:04:05 2006"), max(secs, 1), field(t.Remote), t.Bytes, field(t.Path),
		t.Dir, field(t.User), field(service), status)
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := io.WriteString(l.w, line); err != nil {
		return fmt.Errorf("transfer log: %w", err)
	}
	return nil
}

// field escapes s for one xferlog field, as Log describes.
func field(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1: // not UTF-8
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == ' ':
			b.WriteByte('_')
		case r == '\\':
			b.WriteString(`\\`)
		case r < utf8.RuneSelf && !unicode.IsPrint(r): // C0 controls and DEL
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) || unicode.IsSpace(r):
			// IsPrint is false for every control, format (Cf, the bidi controls among them),
			// space and separator character (Z) but ' ', for private use and unassigned code
			// points; IsSpace says the same of White_Space, for the reader.
			fmt.Fprintf(&b, `\u{%04x}`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
