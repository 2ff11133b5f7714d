package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/chzyer/readline"
	"golang.org/x/term"

	"github.com/myftp/myftp/lib/prompt"
)

// batch runs the commands of -c (cmds, checked by checkAll), or those of standard input one line
// at a time, and stops at the first that fails.
func (s *session) batch(ctx context.Context, cmds [][]string) int {
	if s.opt.hasCommands {
		code, _ := s.runBatch(ctx, cmds)
		return code
	}
	for n := 1; ; n++ {
		line, err := prompt.Await(ctx, func() (string, error) { return nextLine(s.stdin) })
		if ctx.Err() != nil {
			return s.fatal(ctx.Err())
		}
		if errors.Is(err, errNoInput) {
			return ExitOK
		}
		if err != nil {
			return s.fatal(fmt.Errorf("read commands: %w", err))
		}
		cmds, err := Split(line)
		if err != nil {
			return s.fatal(fmt.Errorf("line %d: %w", n, err))
		}
		if code, done := s.runBatch(ctx, cmds); done {
			return code
		}
	}
}

// checkAll splits the commands of -c and checks that each is a command with valid arguments.
func (s *session) checkAll(text string) ([][]string, error) {
	cmds, err := Split(text)
	if err != nil {
		return nil, fmt.Errorf("-c: %w", err)
	}
	for _, words := range cmds {
		if _, _, err := s.check(words); err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

// runBatch runs cmds and reports the exit code and whether the run ends (a failure or exit).
func (s *session) runBatch(ctx context.Context, cmds [][]string) (code int, done bool) {
	for _, words := range cmds {
		if ctx.Err() != nil { // Ctrl-C between commands
			return s.fatal(ctx.Err()), true
		}
		err := s.exec(ctx, words)
		switch {
		case errors.Is(err, errExit):
			return ExitOK, true
		case err != nil && ctx.Err() != nil && !errors.Is(err, context.Canceled):
			return s.fatal(ctx.Err()), true
		case err != nil:
			return s.fatal(err), true
		}
	}
	return ExitOK, false
}

// repl is the interactive shell: read a line with editing and completion, run it, repeat. A
// failed command is reported and the next one is asked for.
func (s *session) repl(ctx context.Context) int {
	cfg, stdin := s.readlineConfig()
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return s.fatal(fmt.Errorf("terminal: %w", err))
	}
	defer rl.Close()
	stop := context.AfterFunc(ctx, func() {
		if stdin != nil {
			stdin.Close() // else closing the editor would wait for a key
		}
		rl.Close()
	})
	defer stop()
	for {
		rl.SetPrompt(s.prompt())
		line, err := rl.Readline()
		switch {
		case ctx.Err() != nil:
			return s.fatal(ctx.Err())
		case errors.Is(err, readline.ErrInterrupt):
			if strings.TrimSpace(line) == "" {
				return ExitOK
			}
			continue
		case err != nil: // io.EOF: Ctrl-D
			return ExitOK
		}
		if code, exit := s.interact(ctx, line); exit {
			return code
		}
	}
}

// prompt is the interactive shell's prompt: the remote directory, or that there is no
// connection after close.
func (s *session) prompt() string {
	if s.closed {
		return "ftp (not connected)> "
	}
	return "ftp:" + visible(s.cwd) + "> "
}

// interact runs one typed line and reports whether the session ends, and with which exit code:
// after exit, or when the server ended the session because the account is gone.
func (s *session) interact(ctx context.Context, line string) (code int, exit bool) {
	cmds, err := Split(line)
	if err != nil {
		fmt.Fprintln(s.env.Stderr, describe(err))
		return 0, false
	}
	for _, words := range cmds {
		cctx, done := s.intr.command(ctx)
		err := s.exec(cctx, words)
		done()
		switch {
		case errors.Is(err, errExit):
			return ExitOK, true
		case err != nil && s.accountGone():
			return s.fatal(err), true
		case err != nil:
			fmt.Fprintln(s.env.Stderr, describe(err))
			return 0, false // the rest of the line may have depended on it
		}
	}
	return 0, false
}

// readlineConfig sets up line editing on the terminal the shell was given. It returns the reader
// of the terminal to close to interrupt a read (nil on Windows, where readline reads the console
// its own way).
func (s *session) readlineConfig() (*readline.Config, *readline.CancelableStdin) {
	cfg := &readline.Config{
		Prompt:            "ftp:/> ",
		HistoryFile:       s.historyFile(),
		HistorySearchFold: true,
		AutoComplete:      &completer{s: s},
		InterruptPrompt:   "^C",
		EOFPrompt:         "exit",
	}
	var stdin *readline.CancelableStdin
	if runtime.GOOS != "windows" {
		stdin = readline.NewCancelableStdin(s.tty)
		cfg.Stdin = stdin
	}
	if s.tty != os.Stdin { // a terminal other than the process's own (tests): use it throughout
		raw := &rawMode{fd: int(s.tty.Fd())}
		cfg.FuncMakeRaw, cfg.FuncExitRaw = raw.enter, raw.exit
		cfg.FuncIsTerminal = func() bool { return s.outTerm }
		cfg.FuncGetWidth = s.width
	}
	if s.env.Stdout != os.Stdout {
		cfg.Stdout, cfg.Stderr = s.env.Stdout, s.env.Stderr
	}
	return cfg, stdin
}

// historyFile is ~/.myftp/history, created if need be; "" (no history kept) without a home.
func (s *session) historyFile() string {
	home := s.env.Getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return ""
	}
	dir := filepath.Join(home, ".myftp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	return filepath.Join(dir, "history")
}

// rawMode switches a terminal other than standard input to raw mode and back.
type rawMode struct {
	fd    int
	state *term.State
}

func (r *rawMode) enter() error {
	st, err := term.MakeRaw(r.fd)
	if err == nil {
		r.state = st
	}
	return err
}

func (r *rawMode) exit() error {
	if r.state == nil {
		return nil
	}
	return term.Restore(r.fd, r.state)
}
