package sftpdoor

import (
	"errors"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/pkg/sftp"
)

// OpenSSH's sftp and scp show a refusal of the server only by its status code's name: every
// quota exceeded, busy file or "try again later" reads "Failure". They do show what the server
// writes on the channel's standard error, as sshd's sftp-server's own messages are shown. So the
// door writes there the message of each failure it answers (the codes whose names say it all, no
// such file and permission denied, are left to them), the first one only of an upload (a
// pipelined upload past the quota fails each of its writes, and its close), on a goroutine of its
// own so that a client that does not read its standard error never holds a request.

// maxTold is how many messages wait to be written to the channel's standard error; more are
// dropped.
const maxTold = 8

// maxToldLen bounds one message, in bytes.
const maxToldLen = 512

// teller writes the messages of failures to an sftp channel's standard error.
type teller struct {
	out  chan string
	done chan struct{} // closed when the writer has ended

	mu      sync.Mutex
	last    string // the last message queued
	stopped bool
}

// newTeller starts writing to w until finish is called.
func newTeller(w io.Writer) *teller {
	t := &teller{out: make(chan string, maxTold), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		for msg := range t.out {
			if _, err := io.WriteString(w, msg); err != nil {
				for range t.out { // the channel is gone: drop the rest
				}
				return
			}
		}
	}()
	return t
}

// finish takes no more messages and waits, at most wait, until those queued are written: the
// channel's last messages come before its exit status.
func (t *teller) finish(wait time.Duration) {
	t.mu.Lock()
	if !t.stopped {
		t.stopped = true
		close(t.out)
	}
	t.mu.Unlock()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-t.done:
	case <-timer.C:
	}
}

// status is statusErr(err), and tells the client a failure's message.
func (t *teller) status(err error) error {
	err = statusErr(err)
	if msg, ok := failure(err); ok && t != nil {
		t.tell(msg)
	}
	return err
}

// failure returns the message of an SFTP failure status.
func failure(err error) (string, bool) {
	var st *status
	if errors.As(err, &st) && errors.Is(st.code, sftp.ErrSSHFxFailure) {
		return st.msg, true
	}
	return "", false
}

// tell queues "myftps: msg", its control characters replaced, unless it is the last one queued.
func (t *teller) tell(msg string) {
	msg = "myftps: " + strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, msg)
	if len(msg) > maxToldLen {
		msg = strings.ToValidUTF8(msg[:maxToldLen], "") + "..."
	}
	msg += "\n"
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || msg == t.last {
		return
	}
	select {
	case t.out <- msg:
		t.last = msg
	default:
	}
}
