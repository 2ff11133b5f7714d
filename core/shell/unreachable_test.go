package shell

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proto"
)

// TestUnreachable checks which failures of the first connection and login --retry tries again,
// with the errors wrapped as dial and logIn wrap them: only those that say the server cannot be
// reached now.
func TestUnreachable(t *testing.T) {
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refused", &connError{fmt.Errorf("connect to x: %w", client.ErrRefused)}, true},
		{"busy", &connError{fmt.Errorf("%w: server busy", client.ErrBusy)}, true},
		{"closed in the greeting", &connError{fmt.Errorf("greeting from x: %w: %w", client.ErrClosed, io.EOF)}, true},
		{"closed in the login", &connError{fmt.Errorf("login as a: %w: %w", client.ErrClosed, io.EOF)}, true},
		{"connect timed out", &connError{fmt.Errorf("connect to x: %w", timeout)}, true},
		{"wrong password", &connError{fmt.Errorf("login as a: %w", &proto.ReplyError{Code: proto.CodeNotLoggedIn})}, false},
		{"account gone", &connError{fmt.Errorf("login as a: %w: %w", client.ErrClosed, client.ErrAccountGone)}, false},
		{"changed certificate", &connError{client.ErrHostKeyMismatch}, false},
		{"new server refused", &connError{fmt.Errorf("%w: x: no", client.ErrNotTrusted)}, false},
		{"plain text refused", &connError{fmt.Errorf("x: %w", client.ErrPlain)}, false},
		{"not a myftp server", &connError{fmt.Errorf("%w: greeting 200", client.ErrProtocol)}, false},
		{"usage", errNoName, false},
		{"other", errors.New("disk full"), false},
	}
	for _, tt := range tests {
		if got := unreachable(tt.err); got != tt.want {
			t.Errorf("%s: unreachable(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
