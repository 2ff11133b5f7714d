package admin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// blockingReader returns a reader whose reads block until the test ends.
func blockingReader(t *testing.T) io.Reader {
	r, w := io.Pipe()
	t.Cleanup(func() { w.Close() })
	return r
}

func newTestConsole(input string) (*console, *strings.Builder) {
	var out strings.Builder
	return &console{in: bufio.NewReader(strings.NewReader(input)), out: &out}, &out
}

func TestReadLine(t *testing.T) {
	c, _ := newTestConsole("one\r\n two \n\nlast")
	for _, want := range []string{"one", " two ", "", "last"} {
		if got, err := c.readLine(context.Background()); got != want || err != nil {
			t.Errorf("readLine = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := c.readLine(context.Background()); !errors.Is(err, errNoInput) {
		t.Errorf("readLine at the end = %v, want errNoInput", err)
	}
}

func TestAskWithoutTerminal(t *testing.T) {
	c, out := newTestConsole("  bob \nsecret\n")
	if got, err := c.ask(context.Background(), "Account: "); got != "bob" || err != nil {
		t.Errorf("ask = %q, %v; want bob", got, err)
	}
	if got, err := c.secret(context.Background(), "Password: "); got != "secret" || err != nil {
		t.Errorf("secret = %q, %v; want secret", got, err)
	}
	if want := "Account: \nPassword: \n"; out.String() != want {
		t.Errorf("output %q, want %q: each prompt on its own line, no answer shown", out.String(), want)
	}
}

func TestSecretFromTerminal(t *testing.T) {
	c, out := newTestConsole("dave\n")
	c.readSecret = func(context.Context) (string, error) { return "hidden", nil }
	if got, err := c.secret(context.Background(), "Password: "); got != "hidden" || err != nil {
		t.Errorf("secret = %q, %v; want hidden, read from the terminal", got, err)
	}
	if got, _ := c.ask(context.Background(), "Account: "); got != "dave" {
		t.Errorf("ask = %q, want dave: the terminal read took a line from stdin", got)
	}
	// The terminal echoes plain answers, so ask adds no line ending; a hidden one gets one.
	if want := "Password: \nAccount: "; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
}

func TestSecretTypedAhead(t *testing.T) {
	// Lines already in the buffer come first, in order, even on a terminal.
	c, _ := newTestConsole("dave\nahead\n")
	c.readSecret = func(context.Context) (string, error) { return "from terminal", nil }
	c.ask(context.Background(), "Account: ")
	if got, _ := c.secret(context.Background(), "Password: "); got != "ahead" {
		t.Errorf("secret = %q, want the buffered line", got)
	}
	if got, _ := c.secret(context.Background(), "Password: "); got != "from terminal" {
		t.Errorf("secret = %q, want the terminal once the buffer is empty", got)
	}
}

func TestAwaitCancel(t *testing.T) {
	c := &console{in: bufio.NewReader(blockingReader(t)), out: io.Discard}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.ask(ctx, "Account: "); !errors.Is(err, context.Canceled) {
		t.Errorf("ask after cancel = %v, want context.Canceled", err)
	}
}

func TestNewConsoleNotTerminal(t *testing.T) {
	if c := newConsole(strings.NewReader(""), io.Discard); c.terminal() {
		t.Error("a strings.Reader was taken for a terminal")
	}
}
