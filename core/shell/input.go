package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/k0kubun/go-ansi"
	"golang.org/x/term"

	"github.com/myftp/myftp/lib/prompt"
)

// passwordEnv is the environment variable that holds the password.
const passwordEnv = "MYFTP_PASSWORD"

var (
	errNoPassword = errors.New("no password: set $MYFTP_PASSWORD, use --password-stdin, or run myftpc on a terminal")
	errNoInput    = prompt.ErrNoInput
)

// setupTerminal finds out which standard streams are terminals, and so the mode.
func (s *session) setupTerminal() {
	s.out = s.env.Stdout
	if f, ok := s.env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.tty = f
	} else {
		s.stdin = bufio.NewReader(s.env.Stdin)
	}
	if f, ok := s.env.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		s.outTerm = true
		if f == os.Stdout {
			s.out = ansi.NewAnsiStdout() // escape sequences become console calls on Windows
		}
	}
	s.interactive = s.tty != nil && !s.opt.hasCommands
}

// width returns the width of the terminal on standard output, or 0.
func (s *session) width() int {
	if f, ok := s.env.Stdout.(*os.File); ok && s.outTerm {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			return w
		}
	}
	return 0
}

// readName asks for the account name.
func (s *session) readName(ctx context.Context) (string, error) {
	fmt.Fprint(s.env.Stdout, "Name: ")
	name, err := s.readLine(ctx)
	if s.tty == nil {
		fmt.Fprintln(s.env.Stdout)
	} else {
		s.waited = true
	}
	if err != nil {
		return "", fmt.Errorf("account name: %w", err)
	}
	if name = strings.TrimSpace(name); name == "" {
		return "", &usageError{"no account name given"}
	}
	return name, nil
}

// readPassword returns the password: from $MYFTP_PASSWORD, from the first line of standard input
// with --password-stdin, or typed on the terminal without echo.
func (s *session) readPassword(ctx context.Context) (string, error) {
	if pw := s.env.Getenv(passwordEnv); pw != "" {
		return pw, nil
	}
	if s.opt.passwordStdin {
		pw, err := s.readLine(ctx)
		if err != nil {
			return "", fmt.Errorf("password from standard input: %w", err)
		}
		return pw, nil
	}
	if s.tty == nil {
		return "", errNoPassword
	}
	fmt.Fprint(s.env.Stdout, "Password: ")
	s.waited = true
	pw, err := prompt.Password(ctx, int(s.tty.Fd()))
	fmt.Fprintln(s.env.Stdout)
	return pw, err
}

// readLine reads one line of standard input, without its line ending.
func (s *session) readLine(ctx context.Context) (string, error) {
	if s.stdin != nil {
		return prompt.Await(ctx, func() (string, error) { return nextLine(s.stdin) })
	}
	return prompt.Await(ctx, func() (string, error) { return ttyLine(s.tty) })
}

// nextLine returns the next line of r; a last line without a newline counts.
func nextLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if errors.Is(err, io.EOF) && line != "" {
		err = nil
	}
	if errors.Is(err, io.EOF) {
		return "", errNoInput
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), err
}

// ttyLine reads a line from the terminal a byte at a time, so that nothing typed after it is
// taken from the line editor that reads the terminal next.
func ttyLine(f *os.File) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 && buf[0] == '\n' {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		b.Write(buf[:n])
		if err != nil {
			if errors.Is(err, io.EOF) && b.Len() == 0 {
				return "", errNoInput
			}
			return b.String(), err
		}
	}
}

// interrupter routes Ctrl-C: to the running command of the interactive shell, which stops, or
// else to the whole run. Once the interactive shell shows its prompt, a Ctrl-C between commands
// ends nothing: at the prompt the line editor reads it as a key (it clears the line), and one
// that arrives as a signal just before, while a command ends, must not close the shell.
type interrupter struct {
	mu       sync.Mutex
	cancel   context.CancelFunc // of the running interactive command, or nil
	prompted bool               // the interactive shell is up: only commands are interrupted
}

// atPrompt says that the interactive shell is up.
func (i *interrupter) atPrompt() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.prompted = true
}

// watch delivers the interrupts of ch until stop is called; quit ends the run.
func (i *interrupter) watch(ch <-chan os.Signal, quit context.CancelFunc) (stop func()) {
	if ch == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				i.fire(quit)
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}

func (i *interrupter) fire(quit context.CancelFunc) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case i.cancel != nil:
		i.cancel()
	case !i.prompted:
		quit()
	}
}

// command returns a context for one interactive command, which an interrupt cancels instead of
// ending the run, and the function that ends it.
func (i *interrupter) command(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	i.mu.Lock()
	i.cancel = cancel
	i.mu.Unlock()
	return ctx, func() {
		i.mu.Lock()
		i.cancel = nil
		i.mu.Unlock()
		cancel()
	}
}
