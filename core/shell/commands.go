package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
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
	help    string // more for "help COMMAND": its flags and what to know
	flags   string // the one-letter flags it takes
	// values are its one-letter flags that take a value (-P 4, -P4), each with the check of the
	// value; a value flag may end a group of flags (-rP 4).
	values map[byte]func(string) error
	// long are its long flags ("partial" for --partial), each with the letter it sets in the
	// invocation's flags.
	long     map[string]byte
	min, max int // how many arguments after the flags; max < 0: any number
	// check, if set, checks the arguments further before the command runs (before connecting,
	// for -c): a usage error.
	check func(*session, invocation) error
	// complete says what each argument is, for Tab; the last kind repeats. The flag swap, when
	// given, swaps the first two (mirror -R).
	complete []argKind
	swap     byte
	remote   bool // needs a session with the server
	readOnly bool // changes nothing on the server: safe to run again after a lost connection
	// shows: what it writes to standard output is what it was asked to show (a listing, a
	// file), not status lines; once some is written, a lost connection does not run it again.
	shows bool
}

// invocation is a command as typed, its flags taken out.
type invocation struct {
	name   string
	args   []string
	flags  string          // the flags given, in order
	values map[byte]string // the values of the value flags given (the last one counts)
}

func (inv invocation) has(flag byte) bool { return strings.IndexByte(inv.flags, flag) >= 0 }

// value returns the value of a value flag, or def when it was not given.
func (inv invocation) value(flag byte, def string) string {
	if v, ok := inv.values[flag]; ok {
		return v
	}
	return def
}

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
	parallel := map[byte]func(string) error{'P': checkParallel}
	return map[string]*command{
		"ls": {run: (*session).cmdLs, args: "[-l] [-a] [PATH|GLOB...]", flags: "la", max: -1, remote: true, readOnly: true, shows: true,
			complete: remote, summary: "list remote directories, or the names that match patterns: sorted, directories end in /",
			help: "-l: in long form, as dir; -a: names starting with a dot too"},
		"dir": {run: (*session).cmdDir, args: "[-a] [PATH|GLOB...]", flags: "a", max: -1, remote: true, readOnly: true, shows: true,
			complete: remote, summary: "list remote directories in long form: mode, size, time, name",
			help: "-a: names starting with a dot too"},
		"pwd": {run: (*session).cmdPwd, remote: true, readOnly: true, shows: true, summary: "print the remote directory"},
		"cd": {run: (*session).cmdCd, args: "[DIR]", max: 1, remote: true, readOnly: true, complete: remote,
			summary: "change the remote directory (default: the home, /; -: the previous one)"},
		"mkdir": mkdir, "mdir": mkdir,
		"rmdir": {run: (*session).cmdRmdir, args: "DIR...", min: 1, max: -1, remote: true, complete: remote,
			summary: "remove empty remote directories"},
		"rm": {run: (*session).cmdRm, args: "[-r] [--partial] FILE|GLOB...", flags: "r", long: map[string]byte{"partial": 'U'},
			min: 1, max: -1, remote: true, complete: remote,
			summary: "remove remote files, or those that match a pattern",
			help:    "-r: directories too, with all they hold; --partial: the unfinished upload of FILE instead (FILE stays)"},
		"partials": {run: (*session).cmdPartials, remote: true, readOnly: true, shows: true,
			summary: "list your unfinished uploads, which count toward your quotas: size kept, date, path"},
		"rename": rename, "mv": rename,
		"quota": {run: (*session).cmdQuota, remote: true, readOnly: true, shows: true, summary: "show the space used, the quota and the space free; files used of their quota"},
		"put": {run: (*session).cmdPut, args: "[-r] [-P N] LOCAL [REMOTE]", flags: "r", values: parallel, min: 1, max: 2,
			remote: true, complete: []argKind{argLocal, argRemote},
			summary: "upload a file (as REMOTE, into it if a directory, or its own name)",
			help: "An interrupted upload resumes; a file the server has already (same size and checksum) is skipped. " +
				"-r: a directory and all it holds; -P N: N files at once (at most 8)"},
		"get": {run: (*session).cmdGet, args: "[-r] [-f] [-P N] REMOTE [LOCAL|-]", flags: "rf", values: parallel, min: 1, max: 2,
			check:  checkGet,
			remote: true, complete: []argKind{argRemote, argLocal},
			summary: "download a file (as LOCAL, into it if a directory, or its own name; -: to standard output)",
			help: "An interrupted download resumes; a local file that is the same (size and checksum) is skipped, and a " +
				"different one is not replaced unless -f. -r: a directory and all it holds; -P N: N files at once (at most 8)"},
		"cat": {run: (*session).cmdCat, args: "FILE...", min: 1, max: -1, remote: true, shows: true, complete: remote,
			summary: "write remote files to standard output"},
		"mput": {run: (*session).cmdMput, args: "[-r] [-P N] GLOB...", flags: "r", values: parallel, min: 1, max: -1,
			remote: true, complete: local,
			summary: "upload the local files that match the patterns (*, ?, [a-z])",
			help: "Files the server has already are skipped, and interrupted ones resume: run it again after a failure. " +
				"-r: directories too; -P N: N files at once (at most 8)"},
		"mget": {run: (*session).cmdMget, args: "[-r] [-f] [-P N] GLOB...", flags: "rf", values: parallel, min: 1, max: -1,
			remote: true, complete: remote,
			summary: "download the remote files that match the patterns (*, ?, [a-z])",
			help: "Files that are here already are skipped, and interrupted ones resume: run it again after a failure. A " +
				"different local file is not replaced unless -f. -r: directories too; -P N: N files at once (at most 8)"},
		"mirror": {run: (*session).cmdMirror, args: "[-R] [--delete] [--dry-run] [-P N] SOURCE [TARGET]", flags: "R",
			values: parallel, long: map[string]byte{"delete": 'D', "dry-run": 'n'}, min: 1, max: 2, remote: true,
			complete: []argKind{argRemote, argLocal}, swap: 'R', summary: "make the local directory TARGET a copy of the remote SOURCE; -R: the other way",
			help: "TARGET is by default SOURCE's name, in the local (-R: remote) directory. Only what differs is sent: a " +
				"file with the same size and checksum is skipped, and an interrupted one resumes. --delete: remove from " +
				"TARGET what SOURCE does not have; --dry-run: say what would be done, and do nothing; -P N: N files at " +
				"once (at most 8). Symbolic links are followed only within a local SOURCE"},
		"open": {run: (*session).cmdOpen, args: "[-u ACCOUNT] [HOST:PORT]", values: map[byte]func(string) error{'u': checkAccount},
			check: checkOpen,
			max:   1, summary: "connect to another server (default: the same one again) and log in",
			help: "-u ACCOUNT: as ACCOUNT (default: the same). The server is checked as at the start, and the password " +
				"asked again ($MYFTP_PASSWORD if it is set). If that fails, the session in use stays"},
		"close": {run: (*session).cmdClose, summary: "close the connection to the server; open connects again"},
		"lcd": {run: (*session).cmdLcd, args: "[DIR]", max: 1, complete: local,
			summary: "change the local directory (default: your home directory; -: the previous one)"},
		"lpwd": {run: (*session).cmdLpwd, summary: "print the local directory"},
		"lls": {run: (*session).cmdLls, args: "[-l] [-a] [DIR]", flags: "la", max: 1, complete: local,
			summary: "list a local directory: sorted names, directories ending in /",
			help:    "-l: in long form, as dir; -a: names starting with a dot too"},
		"lmkdir": {run: (*session).cmdLmkdir, args: "[-p] DIR...", flags: "p", min: 1, max: -1, complete: local,
			summary: "create local directories; -p: with parents, no error if they exist"},
		shellEscape: {run: (*session).cmdShell, args: "[COMMAND LINE]", max: 1, check: checkShell,
			summary: "run a command line with your local shell: !ls -l",
			help: "The command line is the rest of the line, ';' included. Without one, the interactive shell starts " +
				"your shell, until you leave it"},
		"help": {run: (*session).cmdHelp, args: "[COMMAND]", max: 1, complete: []argKind{argCommand},
			summary: "list the commands, or show how to use one"},
		"exit": exit, "quit": exit, "bye": exit,
	}
}

// maxParallel is the most connections -P uses: the server's default max_sessions_per_account.
const maxParallel = 8

// checkParallel checks the value of -P: a number of files to transfer at once.
func checkParallel(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("want a number of files at once, 1 or more")
	}
	return nil
}

// checkGet refuses -r with "-": a directory cannot go to standard output.
func checkGet(_ *session, inv invocation) error {
	if inv.has('r') && inv.arg(1, "") == "-" {
		return &usageError{"get: -r and - (standard output) do not go together"}
	}
	return nil
}

// checkShell refuses "!" without a command line where there is no terminal for the shell.
func checkShell(s *session, inv invocation) error {
	if len(inv.args) == 0 && !s.interactive {
		return &usageError{"!: give a command to run (only the interactive shell can start your shell itself)"}
	}
	return nil
}

func checkAccount(v string) error {
	if v == "" {
		return errors.New("want an account name")
	}
	return nil
}

var (
	remote = []argKind{argRemote}
	local  = []argKind{argLocal}
)

// argKind returns what the argument that follows the words typed after the command name is, for
// completion: the flags (and their values) do not count, and mirror -R swaps its two arguments.
func (c *command) argKind(words []string) argKind {
	i, flags := 0, ""
	for i < len(words) && len(words[i]) > 1 && words[i][0] == '-' {
		w := words[i]
		i++
		if w == "--" {
			break
		}
		if strings.HasPrefix(w, "--") {
			continue
		}
		for k := 1; k < len(w); k++ {
			flags += w[k : k+1]
			if _, valued := c.values[w[k]]; valued {
				if k == len(w)-1 {
					i++ // the value is the next word
				}
				break
			}
		}
	}
	n := len(words) - i
	if n < 0 || len(c.complete) == 0 {
		return argNone // the value of a flag
	}
	kinds := c.complete
	if c.swap != 0 && strings.IndexByte(flags, c.swap) >= 0 && len(kinds) >= 2 {
		kinds = append([]argKind{kinds[1], kinds[0]}, kinds[2:]...)
	}
	return kinds[min(n, len(kinds)-1)]
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
	// Every command reads its flags the same way, as a shell's commands do: the words before the
	// arguments that start with "-" are flags, and one it does not know is an error, never a
	// name. "--" ends the flags (rm -- -old.txt), and "-" alone is an argument (cd -). The command
	// line of "!" is the local shell's, taken as it is.
	for name != shellEscape && len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		if long, ok := strings.CutPrefix(args[0], "--"); ok {
			f, ok := c.long[long]
			if !ok {
				return inv, c.unknownFlag(name, "--"+long)
			}
			inv.flags += string(f)
			args = args[1:]
			continue
		}
		var err error
		if args, err = c.shortFlags(name, args, &inv); err != nil {
			return inv, err
		}
	}
	inv.args = args
	if len(args) < c.min || (c.max >= 0 && len(args) > c.max) {
		return inv, &usageError{"usage: " + c.usage(name)}
	}
	return inv, nil
}

// unknownFlag is the error for a flag the command does not take.
func (c *command) unknownFlag(name, flag string) error {
	return &usageError{fmt.Sprintf("%s: unknown flag %s; usage: %s", name, flag, c.usage(name))}
}

// shortFlags takes the group of one-letter flags args[0] ("-rf", "-P4", "-rP 4") into inv and
// returns the arguments after it.
func (c *command) shortFlags(name string, args []string, inv *invocation) ([]string, error) {
	group, rest := args[0][1:], args[1:]
	for i := 0; i < len(group); i++ {
		f := group[i]
		check, valued := c.values[f]
		if !valued {
			if strings.IndexByte(c.flags, f) < 0 {
				return nil, c.unknownFlag(name, "-"+string(f))
			}
			inv.flags += string(f)
			continue
		}
		v := group[i+1:]
		if v == "" {
			if len(rest) == 0 {
				return nil, &usageError{fmt.Sprintf("%s: flag -%c needs a value; usage: %s", name, f, c.usage(name))}
			}
			v, rest = rest[0], rest[1:]
		}
		if err := check(v); err != nil {
			return nil, &usageError{fmt.Sprintf("%s: -%c %s: %v", name, f, v, err)}
		}
		if inv.values == nil {
			inv.values = map[byte]string{}
		}
		inv.flags += string(f)
		inv.values[f] = v
		break
	}
	return rest, nil
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
	if err == nil && cmd.check != nil {
		err = cmd.check(s, inv)
	}
	return cmd, inv, err
}

// exec runs one command. Its error names the command, unless the command did not run because
// there was no connection and none could be made.
func (s *session) exec(ctx context.Context, words []string) error {
	name := words[0]
	cmd, inv, err := s.check(words)
	if err != nil {
		return err
	}
	ran := true
	if cmd.remote {
		ran, err = s.runRemote(ctx, cmd, inv)
		s.lastUsed = s.env.Now()
	} else {
		err = cmd.run(s, ctx, inv)
	}
	if err == nil || err == errExit || !ran && !errors.Is(err, errClosed) {
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
		if cmd.help != "" {
			fmt.Fprintf(s.env.Stdout, "  %s\n", wrap(cmd.help, 96, "  "))
		}
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
		if len(use) > 24 {
			fmt.Fprintf(w, "  %s\n  %-24s %s\n", use, "", cmd.summary)
			continue
		}
		fmt.Fprintf(w, "  %-24s %s\n", use, cmd.summary)
	}
	fmt.Fprintln(w, `Flags come right after the command; a name that starts with "-" goes after --: rm -- -old.txt`)
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

// wrap breaks text into lines of at most width bytes at spaces, the lines after the first
// starting with indent.
func wrap(text string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && line+1+len(word) > width {
			b.WriteString("\n" + indent)
			line = 0
		} else if i > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}
