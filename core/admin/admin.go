// Package admin is create_user, myftp's administration program: it creates accounts, interactively
// or from flags, and lists, changes, disables, deletes and checks them, and manages their SSH keys.
//
// Main is the whole program over explicit arguments and streams, so that bin/create_user stays a
// few lines and tests run it as a testscript command. Accounts live in the database of package db;
// homes are directories under the settings' upload directory.
package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/myftp/myftp/core/accounts"
)

const progName = "create_user"

// Exit statuses returned by Main.
const (
	exitOK          = 0
	exitFailure     = 1   // the command failed; one line on stderr says why
	exitUsage       = 2   // the command line is wrong
	exitInterrupted = 130 // Ctrl-C at a prompt, as a shell reports SIGINT
)

// Main runs create_user with args (the command line without the program name) and returns its exit
// status: 0 on success, 1 when the command failed, 2 for a usage error and 130 when ctx ended while
// waiting for input.
//
// Prompts and results go to stdout; errors and usage go to stderr. Every answer and a
// --password-stdin password come from stdin through one buffered reader. When stdin is an *os.File
// on a terminal, passwords are read without echo.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, con: newConsole(stdin, stdout)}
	defer func() {
		for _, d := range a.opened {
			d.Close()
		}
	}()
	return a.exit(a.run(ctx, args))
}

// app is one run of the program.
type app struct {
	stdout, stderr io.Writer
	con            *console
	opened         []accounts.Store // account databases to close at the end
}

// options are the flags of every form; each subcommand reads the ones it defines.
type options struct {
	root, conf           string
	account, home, quota string
	files                string // quota --files
	from                 string // import --from
	passwordStdin        bool
	removeHome, repair   bool
	given                map[string]bool // flags set on the command line
}

// command is one subcommand: its synopsis, its own flags and its handler.
type command struct {
	name    string
	args    []string // names of the positional arguments, in order
	flags   string   // its own flags, as shown in the synopsis
	summary string
	define  func(fs *flag.FlagSet, o *options) // defines its own flags; nil if none
	run     func(a *app, ctx context.Context, o *options, args []string) error
}

func (c command) synopsis() string {
	return strings.TrimSpace(strings.Join(append(append([]string{progName, c.name}, c.args...), c.flags), " "))
}

// commands is the table of subcommands, in the order the help shows them.
func commands() []command {
	return []command{
		{name: "list", summary: "list the accounts with their quota, disk use and files", run: (*app).list},
		{name: "passwd", args: []string{"NAME"}, flags: "[--password-stdin]", summary: "change the password of an account",
			define: definePasswordStdin, run: (*app).passwd},
		{name: "quota", args: []string{"NAME", "SIZE"}, flags: "[--files N]", summary: "change the quota of an account; --files: its file count quota",
			define: defineFiles, run: (*app).setQuota},
		{name: "disable", args: []string{"NAME"}, summary: "stop an account from logging in", run: (*app).disable},
		{name: "enable", args: []string{"NAME"}, summary: "let a disabled account log in again", run: (*app).enable},
		{name: "delete", args: []string{"NAME"}, flags: "[--remove-home]", summary: "delete an account; --remove-home also removes its files",
			define: defineRemoveHome, run: (*app).delete},
		{name: "key add", args: []string{"NAME", "FILE"}, summary: "let the SSH public keys in FILE log in (SFTP)", run: (*app).keyAdd},
		{name: "key list", args: []string{"NAME"}, summary: "list the SSH public keys of an account", run: (*app).keyList},
		{name: "key remove", args: []string{"NAME", "FINGERPRINT"}, summary: "remove the SSH public key with that fingerprint",
			run: (*app).keyRemove},
		{name: "import", flags: "[--from DIR]", summary: "copy the accounts of a db/ directory into PostgreSQL",
			define: defineFrom, run: (*app).importFiles},
		{name: "check", flags: "[--repair]", summary: "check the account database; --repair fixes what it can",
			define: defineRepair, run: (*app).check},
		{name: "help", summary: "show this help", run: (*app).help},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// group returns the commands whose names are name and one more word ("key" gives "key add"...),
// in the order of the table; none if name is not the first word of a command.
func group(name string) []command {
	var cmds []command
	for _, c := range commands() {
		if first, _, ok := strings.Cut(c.name, " "); ok && first == name {
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// resolve returns the subcommand that args start with, one word ("list") or two ("key add"), and
// the arguments that follow its name.
func resolve(args []string) (command, []string, error) {
	if cmd, ok := lookup(args[0]); ok {
		return cmd, args[1:], nil
	}
	cmds := group(args[0])
	if len(cmds) == 0 {
		return command{}, nil, &usageError{err: fmt.Errorf("unknown command %q", args[0])}
	}
	verbs := make([]string, len(cmds))
	for i, c := range cmds {
		verbs[i] = strings.TrimPrefix(c.name, args[0]+" ")
	}
	want := strings.Join(verbs[:len(verbs)-1], ", ") + " or " + verbs[len(verbs)-1]
	switch {
	case len(args) == 1:
		return command{}, nil, &usageError{cmd: args[0], err: fmt.Errorf("%s needs a command: %s", args[0], want)}
	case args[1] == "-h" || args[1] == "-help" || args[1] == "--help":
		return command{}, nil, &usageError{cmd: args[0], err: flag.ErrHelp}
	}
	if cmd, ok := lookup(args[0] + " " + args[1]); ok {
		return cmd, args[2:], nil
	}
	return command{}, nil, &usageError{cmd: args[0], err: fmt.Errorf("unknown command %q: want %s", args[0]+" "+args[1], want)}
}

// run parses the top-level flags, then creates an account or hands over to a subcommand.
func (a *app) run(ctx context.Context, args []string) error {
	o := &options{given: map[string]bool{}}
	fs := newFlagSet(progName)
	defineCommon(fs, o)
	defineCreate(fs, o)
	if err := fs.Parse(args); err != nil {
		return &usageError{err: err}
	}
	fs.Visit(func(f *flag.Flag) { o.given[f.Name] = true })
	if fs.NArg() == 0 {
		return a.create(ctx, o)
	}
	cmd, rest, err := resolve(fs.Args())
	if err != nil {
		return err
	}
	return a.runCommand(ctx, cmd, o, rest)
}

// runCommand parses the subcommand's flags, which may also come after its arguments, and runs it.
// Flags given before the subcommand's name count if the subcommand has them.
func (a *app) runCommand(ctx context.Context, cmd command, o *options, args []string) error {
	fs := newFlagSet(progName + " " + cmd.name)
	defineCommon(fs, o)
	if cmd.define != nil {
		cmd.define(fs, o)
	}
	for _, name := range []string{"account", "home", "quota", "password-stdin"} {
		if o.given[name] && fs.Lookup(name) == nil {
			return &usageError{cmd: cmd.name, err: fmt.Errorf("--%s cannot be used with %s", name, cmd.name)}
		}
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return &usageError{cmd: cmd.name, err: err}
	}
	if len(pos) != len(cmd.args) {
		return &usageError{cmd: cmd.name, err: argCountError(cmd, len(pos))}
	}
	return cmd.run(a, ctx, o, pos)
}

func argCountError(cmd command, got int) error {
	if len(cmd.args) == 0 {
		return fmt.Errorf("%s takes no arguments, got %s", cmd.name, count(got, "argument"))
	}
	return fmt.Errorf("%s needs %s, got %s", cmd.name, strings.Join(cmd.args, " "), count(got, "argument"))
}

// exit reports err on stderr and turns it into an exit status.
func (a *app) exit(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return a.usageExit(ue)
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(a.stderr, "\n%s: interrupted\n", progName)
		return exitInterrupted
	}
	fmt.Fprintf(a.stderr, "%s: %s\n", progName, message(err))
	return exitFailure
}

// message is err as the user reads it: on one line, and without the package prefix ("account: ",
// "db: ") that a domain sentinel error carries when it is the whole message.
func message(err error) string {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	for _, prefix := range []string{"account: ", "db: ", "bytesize: ", "conf: "} {
		msg = strings.TrimPrefix(msg, prefix)
	}
	return msg
}
