package shell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// cmdShell runs a command line with the user's shell, in the local directory, as sftp and lftp
// do: "!ls -l". Without one it starts the shell itself, on a terminal. It is the user's own
// command, run on the user's machine: nothing reaches the server. Interactively the command has
// the terminal; in batch mode its standard input is empty, so that it cannot read the commands
// that follow. A command that fails (exit status not 0) fails "!".
//
// On a terminal, Ctrl-C reaches the command from the terminal itself, which the command handles
// as it does in a shell; in batch mode, an interrupt of myftpc is passed on to it.
func (s *session) cmdShell(ctx context.Context, inv invocation) error {
	name, args := s.shellCommand(inv.arg(0, "")) // checkShell refused no command in batch mode
	var cmd *exec.Cmd
	if s.interactive {
		cmd = exec.Command(name, args...)
		cmd.Stdin = s.tty
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
		if runtime.GOOS != "windows" {
			cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
			cmd.WaitDelay = 5 * time.Second
		}
	}
	cmd.Dir, cmd.Stdout, cmd.Stderr = s.lwd, s.env.Stdout, s.env.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return &interruptedError{"local command interrupted", ctx.Err()}
	case errors.As(err, &ee):
		return &localCommandError{code: ee.ExitCode()}
	}
	return fmt.Errorf("run %s: %w", name, err)
}

// shellCommand returns the program and arguments that run line with the user's shell ($SHELL,
// else /bin/sh; on Windows %ComSpec%, else cmd.exe), or the shell itself when line is "".
func (s *session) shellCommand(line string) (string, []string) {
	if runtime.GOOS == "windows" {
		sh := s.env.Getenv("ComSpec")
		if sh == "" {
			sh = "cmd.exe"
		}
		if line == "" {
			return sh, nil
		}
		return sh, []string{"/C", line}
	}
	sh := s.env.Getenv("SHELL")
	if sh == "" {
		sh = "/bin/sh"
	}
	if line == "" {
		return sh, nil
	}
	return sh, []string{"-c", line}
}

// localCommandError is a local command (run with "!") that exited with a status other than 0.
type localCommandError struct{ code int }

func (e *localCommandError) Error() string {
	if e.code < 0 {
		return "the local command was stopped by a signal"
	}
	return fmt.Sprintf("the local command exited with status %d", e.code)
}
