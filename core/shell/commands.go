package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// argKind says what Tab completes in an argument.
type argKind int

const (
	argNone    argKind = iota
	argRemote          // a remote path
	argLocal           // a local path
	argCommand         // a command name
)

// command is one entry of the command table.
type command struct {
	run     func(*session, context.Context, invocation) error
	args    string // the arguments in the usage line: "LOCAL [REMOTE]"
	summary string // one line for help
	flags   string // the one-letter flags it takes
	// long are its long flags ("partial" for --partial), each with the letter it sets in the
	// invocation's flags.
	long     map[string]byte
	min, max int // how many arguments after the flags; max < 0: any number
	// complete says what each argument is, for Tab; the last kind repeats.
	complete []argKind
	remote   bool // needs a session with the server
	readOnly bool // changes nothing on the server: safe to run again after a lost connection
}

// invocation is a command as typed, its flags taken out.
type invocation struct {
	name  string
	args  []string
	flags string // the flags given, in order
}

func (inv invocation) has(flag byte) bool { return strings.IndexByte(inv.flags, flag) >= 0 }

// arg returns argument i, or def when there are fewer arguments.
func (inv invocation) arg(i int, def string) string {
	if i < len(inv.args) {
		return inv.args[i]
	}
	return def
}

// commandTable maps every command name (aliases included) to its entry.
func commandTable() map[string]*command {
	mkdir := &command{run: (*session).cmdMkdir, args: "[-p] DIR...", flags: "p", min: 1, max: -1, remote: true,
		summary: "create remote directories; -p: with parents, no error if they exist", complete: remote}
	rename := &command{run: (*session).cmdRename, args: "FROM TO", min: 2, max: 2, remote: true,
		summary: "rename or move a remote file or directory", complete: remote}
	exit := &command{run: (*session).cmdExit, summary: "end the session"}
	return map[string]*command{
		"ls": {run: (*session).cmdLs, args: "[-l] [PATH]", flags: "l", max: 1, remote: true, readOnly: true, complete: remote,
			summary: "list a remote directory: sorted names, directories end in /; -l: as dir"},
		"dir": {run: (*session).cmdDir, args: "[PATH]", max: 1, remote: true, readOnly: true, complete: remote,
			summary: "list a remote directory in long form: mode, size, time, name"},
		"pwd": {run: (*session).cmdPwd, remote: true, readOnly: true, summary: "print the remote directory"},
		"cd": {run: (*session).cmdCd, args: "[DIR]", max: 1, remote: true, readOnly: true, complete: remote,
			summary: "change the remote directory (default: the home, /)"},
		"mkdir": mkdir, "mdir": mkdir,
		"rmdir": {run: (*session).cmdRmdir, args: "DIR...", min: 1, max: -1, remote: true, complete: remote,
			summary: "remove empty remote directories"},
		"rm": {run: (*session).cmdRm, args: "[--partial] FILE...", long: map[string]byte{"partial": 'P'}, min: 1, max: -1,
			remote: true, complete: remote,
			summary: "remove remote files; --partial: the unfinished uploads of FILE instead (FILE stays)"},
		"partials": {run: (*session).cmdPartials, remote: true, readOnly: true,
			summary: "list your unfinished uploads, which count toward your quotas: size kept, date, path"},
		"rename": rename, "mv": rename,
		"quota": {run: (*session).cmdQuota, remote: true, readOnly: true, summary: "show the space used, the quota and the space free; files used of their quota"},
		"put": {run: (*session).cmdPut, args: "LOCAL [REMOTE]", min: 1, max: 2, remote: true, complete: []argKind{argLocal, argRemote},
			summary: "upload a file (as REMOTE, into it if a directory, or its own name); resumes"},
		"get": {run: (*session).cmdGet, args: "REMOTE [LOCAL]", min: 1, max: 2, remote: true, complete: []argKind{argRemote, argLocal},
			summary: "download a file (as LOCAL, or its own name); resumes a partial one"},
		"mput": {run: (*session).cmdMput, args: "GLOB...", min: 1, max: -1, remote: true, complete: local,
			summary: "upload the local files that match the patterns (*, ?, [a-z])"},
		"mget": {run: (*session).cmdMget, args: "GLOB...", min: 1, max: -1, remote: true, complete: remote,
			summary: "download the remote files that match the patterns (*, ?, [a-z])"},
		"lcd": {run: (*session).cmdLcd, args: "[DIR]", max: 1, complete: local,
			summary: "change the local directory (default: your home directory)"},
		"lpwd": {run: (*session).cmdLpwd, summary: "print the local directory"},
		"lls": {run: (*session).cmdLls, args: "[DIR]", max: 1, complete: local,
			summary: "list a local directory: sorted names, directories ending in /"},
		"help": {run: (*session).cmdHelp, args: "[COMMAND]", max: 1, complete: []argKind{argCommand},
			summary: "list the commands, or show how to use one"},
		"exit": exit, "quit": exit, "bye": exit,
	}
}

var (
	remote = []argKind{argRemote}
	local  = []argKind{argLocal}
)

// kindOf returns what argument i of the command is.
func (c *command) kindOf(i int) argKind {
	if len(c.complete) == 0 {
		return argNone
	}
	return c.complete[min(i, len(c.complete)-1)]
}

// usageError is a command used the wrong way; its message says how to use it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// errExit ends the session.
var errExit = errors.New("exit")

// parse takes the flags out of words and checks the number of arguments.
func (c *command) parse(name string, words []string) (invocation, error) {
	inv := invocation{name: name}
	args := words
	// Dashes are flags only for a command that has some: put -notes.txt uploads that file, and so
	// does rm, whose only flag is a long one.
	for (c.flags != "" || c.long != nil) && len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		if long, ok := strings.CutPrefix(args[0], "--"); ok {
			f, ok := c.long[long]
			if !ok {
				return inv, &usageError{fmt.Sprintf("%s: unknown flag --%s; usage: %s", name, long, c.usage(name))}
			}
			inv.flags += string(f)
			args = args[1:]
			continue
		}
		if c.flags == "" {
			break
		}
		for _, f := range []byte(args[0][1:]) {
			if strings.IndexByte(c.flags, f) < 0 {
				return inv, &usageError{fmt.Sprintf("%s: unknown flag -%c; usage: %s", name, f, c.usage(name))}
			}
			inv.flags += string(f)
		}
		args = args[1:]
	}
	inv.args = args
	if len(args) < c.min || (c.max >= 0 && len(args) > c.max) {
		return inv, &usageError{"usage: " + c.usage(name)}
	}
	return inv, nil
}

func (c *command) usage(name string) string {
	return strings.TrimSpace(name + " " + c.args)
}

// check finds the command of words and parses its arguments, without running it.
func (s *session) check(words []string) (*command, invocation, error) {
	name := words[0]
	cmd, ok := s.cmds[name]
	if !ok {
		return nil, invocation{}, &usageError{fmt.Sprintf("unknown command %q; type \"help\" for the list", name)}
	}
	inv, err := cmd.parse(name, words[1:])
	return cmd, inv, err
}

// exec runs one command. Its error names the command.
func (s *session) exec(ctx context.Context, words []string) error {
	name := words[0]
	cmd, inv, err := s.check(words)
	if err != nil {
		return err
	}
	reused := cmd.remote && !s.dropped() // a connection from before this command
	if cmd.remote {
		if err := s.connected(ctx); err != nil {
			return err
		}
	}
	err = cmd.run(s, ctx, inv)
	if err != nil && cmd.readOnly && reused && ctx.Err() == nil && s.dropped() {
		// The connection was gone before the command (a server restart, or its idle timeout
		// within idleCheck): one that changes nothing runs again on a new connection.
		if err = s.reconnect(ctx, ""); err == nil {
			err = cmd.run(s, ctx, inv)
		}
	}
	if cmd.remote {
		s.lastUsed = s.env.Now()
		if ctx.Err() == nil {
			err = s.lost(err)
		}
	}
	if err == nil || err == errExit {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

func (s *session) cmdExit(context.Context, invocation) error { return errExit }

// cmdHelp lists the commands with their usage, or explains one.
func (s *session) cmdHelp(_ context.Context, inv invocation) error {
	if len(inv.args) == 1 {
		name := inv.args[0]
		cmd, ok := s.cmds[name]
		if !ok {
			return fmt.Errorf("no command %q; type \"help\" for the list", name)
		}
		fmt.Fprintf(s.env.Stdout, "usage: %s\n  %s\n", cmd.usage(name), cmd.summary)
		if names := s.namesOf(cmd); len(names) > 1 {
			fmt.Fprintf(s.env.Stdout, "  names: %s\n", strings.Join(names, ", "))
		}
		return nil
	}
	s.writeHelp(s.env.Stdout)
	return nil
}

func (s *session) writeHelp(w io.Writer) {
	fmt.Fprintln(w, "Commands (\"help COMMAND\" for one; quote names with spaces: put \"my file.txt\"):")
	var groups [][]string
	for name, cmd := range s.cmds {
		if names := s.namesOf(cmd); names[0] == name {
			groups = append(groups, names)
		}
	}
	slices.SortFunc(groups, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	for _, names := range groups {
		cmd := s.cmds[names[0]]
		use := strings.Join(names, ", ")
		if cmd.args != "" {
			use += " " + cmd.args
		}
		fmt.Fprintf(w, "  %-24s %s\n", use, cmd.summary)
	}
}

// namesOf returns the names of cmd, the main one first: longest first (mkdir before mdir, rename
// before mv), then in alphabetical order.
func (s *session) namesOf(cmd *command) []string {
	var names []string
	for name, c := range s.cmds {
		if c == cmd {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return names
}
