package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/myftp/myftp/lib/prompt"
)

// errNoInput is the end of stdin where an answer was expected.
var errNoInput = prompt.ErrNoInput

// console asks the administrator for answers: prompts go to out, answers come from in, the one
// buffered reader over stdin that every prompt shares.
type console struct {
	in  *bufio.Reader
	out io.Writer
	// readSecret reads a line from the terminal without echo; nil when stdin is not a terminal.
	readSecret func(ctx context.Context) (string, error)
}

func newConsole(stdin io.Reader, stdout io.Writer) *console {
	c := &console{in: bufio.NewReader(stdin), out: stdout}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		c.readSecret = func(ctx context.Context) (string, error) { return prompt.Password(ctx, fd) }
	}
	return c
}

// terminal reports whether stdin is a terminal, where passwords can be typed without echo.
func (c *console) terminal() bool { return c.readSecret != nil }

// readLine returns the next line of input without its line ending ("\n" or "\r\n"). A last line
// without a newline counts; the end of input before any character is errNoInput.
func (c *console) readLine(ctx context.Context) (string, error) {
	return prompt.Await(ctx, func() (string, error) {
		s, err := c.in.ReadString('\n')
		if errors.Is(err, io.EOF) {
			if s == "" {
				return "", errNoInput
			}
			err = nil
		}
		return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), err
	})
}

// ask writes prompt and returns the answer, trimmed of spaces.
func (c *console) ask(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(c.out, prompt)
	s, err := c.readLine(ctx)
	c.endLine(c.terminal(), err)
	return strings.TrimSpace(s), err
}

// secret writes prompt and reads a password, as typed: without echo on a terminal, as a plain line
// otherwise. Either way the password is never written anywhere.
func (c *console) secret(ctx context.Context, prompt string) (string, error) {
	fmt.Fprint(c.out, prompt)
	read := c.readSecret
	// Input already buffered was typed ahead (and echoed); reading the buffer keeps the order.
	if read == nil || c.in.Buffered() > 0 {
		read = c.readLine
	}
	s, err := read(ctx)
	c.endLine(false, err) // no terminal, or echo was off
	return s, err
}

// endLine ends a prompt's line after the answer unless the terminal echoed its Enter. After an
// interruption it does nothing: exit reports that on a line of its own.
func (c *console) endLine(echoed bool, err error) {
	if !errors.Is(err, context.Canceled) && (!echoed || err != nil) {
		fmt.Fprintln(c.out)
	}
}
