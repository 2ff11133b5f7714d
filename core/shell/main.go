// Package shell is the myftpc program: a client shell for a myftp server, interactive on a
// terminal (line editing, history, Tab completion of commands and of remote and local paths,
// progress bars, Ctrl-C to stop a transfer) and scriptable in batch mode (-c "cmd; cmd", or one
// command a line on standard input), where the first failing command ends the run with an exit
// code that says what went wrong.
//
// Everything a person sees goes through the io.Reader and io.Writers it is given, so tests drive
// it with buffers, pipes or a pseudo-terminal. It is built on package client; the commands are one
// table (commandTable), the command-line syntax is Split.
package shell

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/myftp/myftp/lib/checksum"
)

// Exit codes of myftpc.
const (
	ExitOK          = 0   // every command succeeded (or the interactive session ended normally)
	ExitFailed      = 1   // a command failed
	ExitUsage       = 2   // bad flags or settings, an unknown command, wrong arguments
	ExitConnect     = 3   // could not connect or log in, or the connection was lost
	ExitBusy        = 4   // the server turned the connection away: busy, per-address limit, shutdown
	ExitHostKey     = 5   // the server is not trusted: a changed certificate, a new server not accepted, no TLS
	ExitInterrupted = 130 // interrupted (Ctrl-C) outside a transfer of the interactive shell
)

const usage = `usage: myftpc [flags] [HOST:PORT]

Connects to a myftp server (HOST:PORT, default: client.server of the settings), logs in, and runs
commands: typed at the prompt on a terminal, from -c, or one a line from standard input.

  --root DIR          runtime root: its conf/settings.toml is read (default $MYFTP_ROOT, else
                      the current directory)
  --conf FILE         settings file (default DIR/conf/settings.toml; built-in defaults if missing)
  -u ACCOUNT          account to log in as (default: asked at the "Name:" prompt on a terminal;
                      without one, -u is required)
  --password-stdin    read the password from the first line of standard input
  -c COMMANDS         run COMMANDS (separated by ";" or newlines) and exit
  --known-hosts FILE  trusted server certificates (default client.known_hosts of the settings,
                      ~/.myftp/known_hosts)
  --trust-new         record a server that known_hosts does not list, without asking (a notice
                      says so); default client.trust_new of the settings, false
  --insecure          do not check the server's certificate, and accept a server without TLS
                      (warnings say so)
  --checksum ALGO     verify transfers with ALGO (blake3, sha256 or md5) when the server offers
                      it, else with the best one it offers (default client.checksum of the
                      settings, blake3)
  --retry N           go on after a lost connection, up to N times per command: connect and
                      log in again, and resume the transfer or run the command again; try
                      the first connection and login again too (see below); an upload the
                      server then refuses as busy (450: it may still hold the lost
                      connection's) is tried again for up to 10 s (default 0)
  --progress          draw progress bars also when standard output is not a terminal: on
                      standard error (batch mode)
  -q                  quiet: print no status lines (logins, transfer summaries, "directory
                      created"...) and no progress bars, only errors and what commands are
                      asked to show (listings, pwd, cat...)

The password is $MYFTP_PASSWORD if set, else the first line of standard input with
--password-stdin, else asked at a "Password:" prompt on the terminal, without echo.

myftpc checks the server before it sends the password. A server whose address known_hosts does
not list is shown with its certificate's fingerprint and recorded only if you answer "yes"; without
a terminal to ask it is refused, unless --trust-new. Another certificate than the recorded one is
refused. A server without TLS is refused unless --insecure, or allow_plaintext = true in [client]
of the settings (which still checks the certificates of TLS servers); a server recorded with TLS
that greets without it is refused unless --insecure.

With --retry N, a command whose connection is lost (closed, reset, or a read timed out), in a
transfer or between two commands, carries on over a new connection to the same address: myftpc
says so on standard error (in the interactive shell too), logs in again as the same account,
goes back to the remote directory, and resumes the transfer where it stopped or runs the
command again, from the argument it had reached. The first retry is at once, each later one
waits longer, from 1 s up to 30 s, for the server to come back. As in lftp, a command that
changes something (rm, rmdir, mkdir, rename) is sent again too: if the lost try had done it
already, the new one fails (no such file, exists) and says that the lost try may have done it
(exit status 1). A command that had written part of what it shows (ls, cat, get FILE -) does
not run again. When the retries run out, the last error ends the command, with exit status 3 (4
if the server turned the connection away). Without --retry, only a command that changes nothing
(ls, pwd, cd...) runs again, once, when it finds the connection gone; any other fails, with
exit status 3.

With --retry N, the first connection and login are tried again too, up to N times with the same
waits, while the server cannot be reached now: nothing accepts the connection, the server turns
it away as busy, the connection closes or is reset before the login is done (a node that died
under it), or a connect or a read times out. myftpc says each try on standard error; when the
retries run out, the last error ends the run, with exit status 3 (4 if busy). A wrong password,
an untrusted or plain-text server refused, and a usage error end the run at once, as without
--retry.

Without -c, on a terminal, myftpc is interactive: line editing, history (kept in
~/.myftp/history), Tab completion, progress bars; Ctrl-C stops a transfer (run it again to
resume) and clears the line at the prompt; Ctrl-D at an empty prompt, or exit, leaves. Otherwise
it runs in batch mode: every command is checked before the first one runs, each command's result
goes to standard output, errors and myftpc's own messages (the login) to standard error, and the
first failing command ends the run; commands that are all local (help, lpwd...) do not connect.
Type "help" for the commands.

Exit status:
  0    every command succeeded
  1    a command failed
  2    usage: bad flags or settings, an unknown command or wrong arguments
  3    could not connect or log in, or the connection was lost
  4    the server turned the connection away (busy, or too many connections
       from this address): try again later
  5    the server is not trusted: its certificate is not the one recorded in known_hosts, it
       is new and was not accepted, or it does not use TLS
  130  interrupted
`

// Env is the world a shell runs in: its arguments (without the program name), standard streams,
// environment, local directory, clock and interrupts.
type Env struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment ($MYFTP_PASSWORD, $MYFTP_ROOT); nil means os.Getenv.
	Getenv func(string) string
	// Dir is the local working directory the shell starts in; "" means the process's.
	Dir string
	// Interrupts delivers Ctrl-C: it stops the running transfer of an interactive shell, and the
	// whole run otherwise. Nil means no interrupts.
	Interrupts <-chan os.Signal
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Main runs myftpc with args and the process's standard streams and returns the exit code. It
// catches SIGINT (Ctrl-C) for as long as it runs, so that an interrupt stops a transfer, not the
// program; ctx ending (SIGTERM in main) ends the run.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	return Run(ctx, Env{Args: args, Stdin: stdin, Stdout: stdout, Stderr: stderr, Interrupts: sig})
}

// Run is Main with everything passed in.
func Run(ctx context.Context, env Env) int {
	env.fill()
	o, err := parseArgs(env.Args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "myftpc: %v\nRun \"myftpc --help\" for usage.\n", err)
		return ExitUsage
	}
	s, err := newSession(env, o)
	if err != nil {
		fmt.Fprintln(env.Stderr, "myftpc:", err)
		return ExitUsage
	}
	defer s.close()
	return s.run(ctx)
}

func (e *Env) fill() {
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Stdin == nil {
		e.Stdin = eofReader{}
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// options are the parsed command line.
type options struct {
	root, conf, user, knownHosts, addr string
	checksum                           string
	commands                           string
	hasCommands                        bool
	passwordStdin, insecure, trustNew  bool
	quiet, progress                    bool
	retry                              int
}

// parseArgs parses the flags, which may come before or after the address.
func parseArgs(args []string) (options, error) {
	var o options
	fl := flag.NewFlagSet("myftpc", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.StringVar(&o.root, "root", "", "")
	fl.StringVar(&o.conf, "conf", "", "")
	fl.StringVar(&o.user, "u", "", "")
	fl.BoolVar(&o.passwordStdin, "password-stdin", false, "")
	fl.Func("c", "", func(s string) error { o.commands, o.hasCommands = s, true; return nil })
	fl.BoolVar(&o.insecure, "insecure", false, "")
	fl.BoolVar(&o.trustNew, "trust-new", false, "")
	fl.BoolVar(&o.quiet, "q", false, "")
	fl.BoolVar(&o.progress, "progress", false, "")
	fl.StringVar(&o.knownHosts, "known-hosts", "", "")
	fl.Func("checksum", "", func(s string) error {
		if !slices.Contains(checksum.Transfer(), s) {
			return fmt.Errorf("want one of %s", strings.Join(checksum.Transfer(), ", "))
		}
		o.checksum = s
		return nil
	})
	fl.Func("retry", "", func(s string) error { return parseRetry(s, &o.retry) })
	var rest []string
	for {
		if err := fl.Parse(args); err != nil {
			return o, err
		}
		if fl.NArg() == 0 {
			break
		}
		rest, args = append(rest, fl.Arg(0)), fl.Args()[1:]
	}
	switch {
	case len(rest) > 1:
		return o, fmt.Errorf("unexpected argument %q", rest[1])
	case len(rest) == 1:
		o.addr = rest[0]
	}
	return o, nil
}

func parseRetry(s string, n *int) error {
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > 1000 {
		return fmt.Errorf("want a number from 0 to 1000")
	}
	*n = v
	return nil
}
