package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError is a wrong command line. cmd names the subcommand whose usage applies, "" for the
// program as a whole. An err of flag.ErrHelp is a request for help, not an error.
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// newFlagSet returns a flag set that reports nothing itself: exit and usageExit do.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// The define functions bind flags to o. A flag's default is its current value in o, so that a
// subcommand's flag set keeps what the top-level one already parsed.

func defineCommon(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.root, "root", o.root, "runtime root")
	fs.StringVar(&o.conf, "conf", o.conf, "settings file")
}

func defineCreate(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.account, "account", o.account, "account name")
	fs.StringVar(&o.home, "home", o.home, "home directory")
	fs.StringVar(&o.quota, "quota", o.quota, "quota")
	definePasswordStdin(fs, o)
}

func definePasswordStdin(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.passwordStdin, "password-stdin", o.passwordStdin, "read the password from stdin")
}

func defineFiles(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.files, "files", o.files, "file count quota")
}

func defineRemoveHome(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.removeHome, "remove-home", o.removeHome, "also remove the home directory")
}

func defineRepair(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.repair, "repair", o.repair, "repair the database")
}

// parseInterspersed parses args with fs, allowing flags before, between and after the positional
// arguments ("delete alice --remove-home"), and returns the positional ones. "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// usageExit reports a usage error, or shows the help asked for with --help.
func (a *app) usageExit(e *usageError) int {
	if errors.Is(e.err, flag.ErrHelp) {
		a.writeUsage(e.cmd)
		return exitOK
	}
	fmt.Fprintf(a.stderr, "%s: %s\n", progName, e.err)
	for i, syn := range synopses(e.cmd) {
		if i == 0 {
			fmt.Fprintf(a.stderr, "usage: %s\n", syn)
		} else {
			fmt.Fprintf(a.stderr, "       %s\n", syn)
		}
	}
	fmt.Fprintf(a.stderr, "Run '%s help' for usage.\n", progName)
	return exitUsage
}

// synopses returns the synopsis of the subcommand name, or of every command of the group name
// ("key"); none for "" or an unknown name.
func synopses(name string) []string {
	if cmd, ok := lookup(name); ok {
		return []string{cmd.synopsis()}
	}
	var syns []string
	for _, c := range group(name) {
		syns = append(syns, c.synopsis())
	}
	return syns
}

// writeUsage writes the help of one subcommand or group of subcommands, or of the whole program
// for "".
func (a *app) writeUsage(name string) {
	if cmds := group(name); len(cmds) > 0 {
		var b strings.Builder
		b.WriteString("usage:\n")
		for _, c := range cmds {
			writeSynopsis(&b, c.synopsis(), c.summary)
		}
		fmt.Fprintf(&b, "\nEach also accepts --root DIR and --conf FILE.\n%s", keyHelp)
		fmt.Fprintf(&b, "\nRun '%s help' for every command and flag.\n", progName)
		io.WriteString(a.stderr, b.String())
		return
	}
	cmd, ok := lookup(name)
	if !ok || name == "help" {
		io.WriteString(a.stderr, usage())
		return
	}
	fmt.Fprintf(a.stderr, "usage: %s [--root DIR] [--conf FILE]\n\n%s.\n\n", cmd.synopsis(), cmd.summary)
	fmt.Fprintf(a.stderr, "Run '%s help' for every command and flag.\n", progName)
}

// help is the "help" subcommand.
func (a *app) help(context.Context, *options, []string) error {
	a.writeUsage("")
	return nil
}

// usage is the help of the whole program.
func usage() string {
	var b strings.Builder
	b.WriteString(progName + " creates and manages myftp accounts.\n\nUsage:\n")
	writeSynopsis(&b, progName, "create an account, prompting for every value")
	writeSynopsis(&b, progName+" --account NAME [--home DIR] [--quota SIZE] [--password-stdin]", "create an account from flags")
	for _, c := range commands() {
		writeSynopsis(&b, c.synopsis(), c.summary)
	}
	b.WriteString(flagHelp)
	b.WriteString(keyHelp)
	return b.String()
}

// writeSynopsis writes one line of the command list: the summary goes in a column, or on the next
// line below a long synopsis.
func writeSynopsis(b *strings.Builder, synopsis, summary string) {
	const column = 36
	line := "  " + strings.TrimSpace(synopsis)
	if len(line) >= column-1 {
		line += "\n"
		line += strings.Repeat(" ", column)
	} else {
		line += strings.Repeat(" ", column-len(line))
	}
	b.WriteString(line + summary + "\n")
}

const flagHelp = `
Flags:
  --root DIR         runtime root holding conf/, db/ and file_upload/
                     (default: $MYFTP_ROOT, else the current directory)
  --conf FILE        settings file (default: ROOT/conf/settings.toml)
  --account NAME     name of the new account: 1 to 32 of a-z, 0-9, '.', '_' and '-'
  --home DIR         home directory, relative to the upload directory (default: NAME)
  --quota SIZE       bytes, or a size such as 500MiB, 10G or 1.5GB
                     (default: default_quota of the settings)
  --password-stdin   read the password from the first line of stdin
  --files N          quota: the most files, directories and other entries the home may
                     hold, each unfinished upload counting two (0: default_max_files of
                     the settings, which new accounts follow)
  --remove-home      delete: also remove the home directory and its files
  --repair           check: remove leftover temporary files and rebuild id_user_rs.json
                     and last_id (account files only)
  --from DIR         import: the db/ directory to copy (default: db_dir of the settings);
                     its accounts keep their ids, passwords, quotas, states and keys

Every form accepts --root and --conf. Flags may come before or after the arguments of a
command. On a terminal, passwords are typed twice and not shown, and an answer that is
refused is asked for again; otherwise give --password-stdin, except in the interactive form,
which reads every answer as a line. A new password needs min_password_length characters
(in [auth] of the settings; 8 by default). The box shown after an account is created names
the database it is in; a database that was not there is created with a warning, since a
server reads only the database of its own root.
`

const keyHelp = `
SSH keys let an account log in to the SFTP door without its password. FILE holds public
keys in the authorized_keys format, one a line, such as ~/.ssh/id_ed25519.pub; - reads them
from stdin. A line with options (command=, from=, no-pty...) or that is not a public key is
refused, and then no key of FILE is added. FINGERPRINT is the SHA256:... that key list and
ssh-keygen -lf show.
`
