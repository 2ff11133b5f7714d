package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/chzyer/readline"
	"golang.org/x/term"

	"github.com/myftp/myftp/lib/prompt"
)

// batch runs cmds (checked by batchCommands) and stops at the first that fails.
func (s *session) batch(ctx context.Context, cmds [][]string) int {
	code, _ := s.runBatch(ctx, cmds)
	return code
}

// maxScript bounds the commands read from standard input, which are read whole before the first
// one runs.
const maxScript = 16 << 20

// batchCommands returns the commands of a batch run, every one checked to be a command with valid
// arguments: those of -c, or the lines of standard input (after the password line with
// --password-stdin), read to their end first. A mistyped command is a usage error found before
// anything runs, and before connecting.
func (s *session) batchCommands(ctx context.Context) ([][]string, error) {
	if s.opt.hasCommands {
		return s.checkAll(s.opt.commands)
	}
	if s.opt.passwordStdin { // the first line is the password, not a command
		if err := s.passwordOnce(ctx); err != nil {
			return nil, err
		}
	}
	lines, err := prompt.Await(ctx, func() ([]string, error) { return readLines(s.stdin, maxScript) })
	if err != nil {
		return nil, fmt.Errorf("read commands: %w", err)
	}
	all, err := s.checkLines(lines)
	if err != nil && s.opt.user == "" && s.tty == nil {
		return nil, errNoName // the first line was meant as the name, as a terminal would ask
	}
	return all, err
}

// checkLines splits lines of commands and checks each command; an error names its line.
func (s *session) checkLines(lines []string) ([][]string, error) {
	var all [][]string
	for i, line := range lines {
		cmds, err := Split(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		for _, words := range cmds {
			if _, _, err := s.check(words); err != nil {
				return nil, &usageError{fmt.Sprintf("line %d: %s", i+1, err)}
			}
		}
		all = append(all, cmds...)
	}
	return all, nil
}

// readLines reads r to its end as lines (a last line without a newline counts), at most max
// bytes of them.
func readLines(r *bufio.Reader, max int) ([]string, error) {
	var lines []string
	size := 0
	for {
		line, err := nextLine(r)
		if errors.Is(err, errNoInput) {
			return lines, nil
		}
		if err != nil {
			return nil, err
		}
		if size += len(line) + 1; size > max {
			return nil, fmt.Errorf("more than %d bytes of commands", max)
		}
		lines = append(lines, line)
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

// needsServer reports whether any of cmds talks to the server: a batch of local commands only
// (help, lpwd...) neither connects nor needs an account.
func (s *session) needsServer(cmds [][]string) bool {
	for _, words := range cmds {
		if s.cmds[words[0]].remote {
			return true
		}
	}
	return false
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
	if cfg.HistoryFile != "" {
		// The line editor makes the file anew, with the umask's mode, when it trims it to its
		// limit as it starts: it holds what was typed, for its owner only.
		os.Chmod(cfg.HistoryFile, 0o600)
	}
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
		case errors.Is(err, readline.ErrInterrupt): // Ctrl-C clears the line, as in a shell
			continue
		case err != nil: // io.EOF: Ctrl-D at an empty prompt
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

// historyFile is ~/.myftp/history, created if need be (mode 0600: it holds what was typed, names
// of files included); "" (no history kept) without a home or when it cannot be made private.
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
	file := filepath.Join(dir, "history")
	f, err := os.OpenFile(file, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return ""
	}
	f.Close()
	if err := os.Chmod(file, 0o600); err != nil {
		return ""
	}
	return file
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
