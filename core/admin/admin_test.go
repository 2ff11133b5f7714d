package admin

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/db"
)

// cheapSettings keeps password hashing fast in tests.
const cheapSettings = "[auth]\nargon2_memory = \"64KiB\"\nargon2_time = 1\n"

// newRoot returns a runtime root with cheap hashing settings.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "conf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(cheapSettings), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

// runMain runs Main on root with stdin and returns the exit status, stdout and stderr.
func runMain(t *testing.T, root, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr strings.Builder
	args = append([]string{"--root", root}, args...)
	code := Main(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func getAccount(t *testing.T, root, name string) account.Account {
	t.Helper()
	d, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestWriteBox(t *testing.T) {
	var b strings.Builder
	writeBox(&b, account.Account{Name: "alice", Home: "team/alice", Quota: 10 << 20}, "/srv/myftp/db")
	want := "" +
		"===================ACCOUNT INFO===================\n" +
		"             Account:      alice\n" +
		"             Home Dir:     team/alice\n" +
		"             Quota:        10 MiB (10485760 bytes)\n" +
		"             Database:     /srv/myftp/db\n" +
		"==================================================\n"
	if b.String() != want {
		t.Errorf("box:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestExitStatus(t *testing.T) {
	root := newRoot(t)
	if code, _, stderr := runMain(t, root, "pass-word\n", "--account", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("create alice: exit %d, %s", code, stderr)
	}
	tests := []struct {
		args   []string
		stdin  string
		code   int
		stderr string // a substring of the first line
	}{
		{[]string{"help"}, "", 0, "Usage:"},
		{[]string{"--help"}, "", 0, "Usage:"},
		{[]string{"list", "-h"}, "", 0, "usage: create_user list"},
		{[]string{"frob"}, "", 2, `unknown command "frob"`},
		{[]string{"--bogus"}, "", 2, "flag provided but not defined"},
		{[]string{"--account", "bob"}, "pass-word\n", 2, "stdin is not a terminal"},
		{[]string{"--quota", "1G"}, "", 2, "--quota needs --account"},
		{[]string{"quota", "alice"}, "", 2, "quota needs NAME SIZE"},
		{[]string{"delete"}, "", 2, "delete needs NAME"},
		{[]string{"--home", "x", "list"}, "", 2, "--home cannot be used with list"},
		{[]string{"passwd", "alice"}, "pass-word\n", 2, "stdin is not a terminal"},
		{[]string{"--account", "alice", "--password-stdin"}, "pass-word\n", 1, `account "alice" already exists`},
		{[]string{"--account", "bob", "--quota", "12XB", "--password-stdin"}, "pass-word\n", 1, `invalid quota "12XB"`},
		{[]string{"--account", "bob", "--password-stdin"}, "", 1, "password from stdin: unexpected end of input"},
		{[]string{}, "bob\npassword-1\npassword-2\n", 1, "passwords do not match"},
		{[]string{"--account", "bob", "--password-stdin"}, "short\n", 1,
			"password too short: 5 characters, at least 8 (min_password_length in [auth] of the settings)"},
		{[]string{}, "bob\nshört\n", 1, "password too short: 5 characters, at least 8"},
		{[]string{"passwd", "nobody", "--password-stdin"}, "pass-word\n", 1, `account "nobody" does not exist`},
		{[]string{"import"}, "", 1, `import copies accounts into PostgreSQL: set backend = "postgres" in [accounts]`},
		{[]string{"import", "extra"}, "", 2, "import takes no arguments"},
		{[]string{"--conf", "missing.toml", "list"}, "", 1, "missing.toml"},
		{[]string{"enable", "alice"}, "", 0, ""},
		{[]string{"key"}, "", 2, "key needs a command: add, list or remove"},
		{[]string{"key", "--help"}, "", 0, "usage:"},
		{[]string{"key", "frob"}, "", 2, `unknown command "key frob"`},
		{[]string{"key", "add", "alice"}, "", 2, "key add needs NAME FILE"},
		{[]string{"key", "list", "alice"}, "", 0, ""},
		{[]string{"key", "list", "nobody"}, "", 1, `account "nobody" does not exist`},
		{[]string{"key", "add", "alice", "-"}, "", 1, "stdin: no SSH public key found"},
		{[]string{"key", "add", "alice", "-"}, "hello\n", 1, "stdin: line 1: not an SSH public key; no key was added"},
		{[]string{"key", "add", "alice", "-"}, "no-pty " + testKey + "\n", 1, "stdin: line 1: options are not supported"},
		{[]string{"key", "add", "alice", "-"}, testKey + "\n", 0, ""},
		{[]string{"key", "remove", "alice", "SHA256:nope"}, "", 1, `account "alice" has no key SHA256:nope`},
		{[]string{"key", "remove", "alice", "nope"}, "", 1, "invalid fingerprint nope"},
	}
	for _, tt := range tests {
		code, stdout, stderr := runMain(t, root, tt.stdin, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.stderr)
		}
		if tt.code == 1 && strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: stderr is not one line: %q", tt.args, stderr)
		}
		if strings.Contains(stdout+stderr, "pw2") {
			t.Errorf("%q: a password was printed: %q %q", tt.args, stdout, stderr)
		}
	}
}

// testKey is an ed25519 public key, as in an authorized_keys file.
const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH/cNOB+zEH6eB+wzNeXJeg3jhXc5n9WUQhWVAjDJIAA alice@laptop"

func TestCreateStoresPassword(t *testing.T) {
	root := newRoot(t)
	code, _, stderr := runMain(t, root, "pa ss word\r\nnot this\n", "--account", "alice", "--home", "a/b/alice", "--password-stdin")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	a := getAccount(t, root, "alice")
	for pw, want := range map[string]bool{"pa ss word": true, "pa ss word\r": false, "not this": false} {
		if ok, err := account.VerifyPassword(a.PasswordHash, pw); err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if p, _ := account.ParamsOf(a.PasswordHash); p != (account.Params{Memory: 64, Time: 1, Threads: 1}) {
		t.Errorf("hash params %+v, want the settings' 64 KiB, 1 pass, 1 thread", p)
	}
	if runtime.GOOS == "windows" {
		return
	}
	for _, dir := range []string{"file_upload", "file_upload/a", "file_upload/a/b", "file_upload/a/b/alice"} {
		fi, err := os.Stat(filepath.Join(root, dir))
		if err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a directory with mode 0700", dir, fi.Mode(), err)
		}
	}
}

func TestPasswdChangesPassword(t *testing.T) {
	root := newRoot(t)
	if code, _, stderr := runMain(t, root, "old-password\n", "--account", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("create: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runMain(t, root, "new-password\n", "passwd", "--password-stdin", "alice")
	if code != 0 || stdout != "Account [alice] password changed\n" {
		t.Fatalf("passwd: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	h := getAccount(t, root, "alice").PasswordHash
	if ok, _ := account.VerifyPassword(h, "new-password"); !ok {
		t.Error("the new password does not match")
	}
	if ok, _ := account.VerifyPassword(h, "old-password"); ok {
		t.Error("the old password still matches")
	}
}

func TestInterruptedAtPrompt(t *testing.T) {
	root := newRoot(t)
	if _, err := db.Open(filepath.Join(root, "db")); err != nil { // a database there: no warning
		t.Fatal(err)
	}
	r := blockingReader(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr strings.Builder
	code := Main(ctx, []string{"--root", root}, r, &stdout, &stderr)
	if code != exitInterrupted || stdout.String() != "Account: " || stderr.String() != "\ncreate_user: interrupted\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want %d, the prompt, and interrupted", code, stdout.String(), stderr.String(), exitInterrupted)
	}
}

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args   []string
		pos    []string
		remove bool
	}{
		{nil, nil, false},
		{[]string{"alice", "--remove-home"}, []string{"alice"}, true},
		{[]string{"--remove-home", "alice"}, []string{"alice"}, true},
		{[]string{"a", "-remove-home", "b"}, []string{"a", "b"}, true},
		{[]string{"alice", "--", "--remove-home"}, []string{"alice", "--remove-home"}, false},
		{[]string{"--", "-x", "y"}, []string{"-x", "y"}, false},
		{[]string{"-"}, []string{"-"}, false},
	}
	for _, tt := range tests {
		var o options
		fs := newFlagSet("t")
		defineRemoveHome(fs, &o)
		pos, err := parseInterspersed(fs, tt.args)
		if err != nil || !slices.Equal(pos, tt.pos) || o.removeHome != tt.remove {
			t.Errorf("%q: %q, remove %v, %v; want %q, remove %v", tt.args, pos, o.removeHome, err, tt.pos, tt.remove)
		}
	}
	fs := newFlagSet("t")
	if _, err := parseInterspersed(fs, []string{"alice", "--nope"}); err == nil {
		t.Error("an undefined flag after an argument was accepted")
	}
	if _, err := parseInterspersed(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		args []string
		cmd  string   // "" for a usage error
		rest []string // the arguments after the command's name
	}{
		{[]string{"list"}, "list", []string{}},
		{[]string{"quota", "alice", "1G"}, "quota", []string{"alice", "1G"}},
		{[]string{"key", "add", "alice", "-"}, "key add", []string{"alice", "-"}},
		{[]string{"key", "list", "--root", "r", "alice"}, "key list", []string{"--root", "r", "alice"}},
		{[]string{"key", "remove"}, "key remove", []string{}},
		{[]string{"key"}, "", nil},
		{[]string{"key", "--root", "r", "list"}, "", nil},
		{[]string{"key", "-h"}, "", nil},
		{[]string{"add"}, "", nil},
		{[]string{"keys", "list"}, "", nil},
	}
	for _, tt := range tests {
		cmd, rest, err := resolve(tt.args)
		var ue *usageError
		if tt.cmd == "" {
			if !errors.As(err, &ue) {
				t.Errorf("resolve(%q) = %q, %v; want a usage error", tt.args, cmd.name, err)
			}
			continue
		}
		if err != nil || cmd.name != tt.cmd || !slices.Equal(rest, tt.rest) {
			t.Errorf("resolve(%q) = %q, %q, %v; want %q, %q", tt.args, cmd.name, rest, err, tt.cmd, tt.rest)
		}
	}
}

func TestDefineKeepsEarlierValues(t *testing.T) {
	o := options{root: "/r", passwordStdin: true}
	fs := newFlagSet("t")
	defineCommon(fs, &o)
	definePasswordStdin(fs, &o)
	if err := fs.Parse([]string{"--conf", "c.toml"}); err != nil {
		t.Fatal(err)
	}
	if o.root != "/r" || o.conf != "c.toml" || !o.passwordStdin {
		t.Errorf("options %+v: a second flag set lost values parsed before", o)
	}
}

func TestMessage(t *testing.T) {
	tests := []struct{ err, want string }{
		{`account: invalid account name "a b": only a-z`, `invalid account name "a b": only a-z`},
		{`db: unreadable account record "x"`, `unreadable account record "x"`},
		{"create account \"x\": db: lock", "create account \"x\": db: lock"},
		{"line one\nline two", "line one line two"},
	}
	for _, tt := range tests {
		if got := message(errors.New(tt.err)); got != tt.want {
			t.Errorf("message(%q) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestUsageShowsEveryCommand(t *testing.T) {
	u := usage()
	for _, c := range commands() {
		if !strings.Contains(u, "\n  "+c.synopsis()) {
			t.Errorf("usage lacks %q", c.synopsis())
		}
	}
	for _, line := range strings.Split(u, "\n") {
		if len(line) > 100 {
			t.Errorf("usage line longer than 100 characters: %q", line)
		}
	}
}

func TestHomeOwner(t *testing.T) {
	list := []account.Account{{Name: "alice", Home: "alice"}, {Name: "bob", Home: "team/bob"}}
	tests := []struct {
		home, owner string
	}{
		{"alice", "alice"},
		{"alice/sub", "alice"},
		{"team", "bob"},
		{"team/bob", "bob"},
		{"team/carol", ""},
		{"alicex", ""},
		{"ali", ""},
	}
	for _, tt := range tests {
		o, ok := homeOwner(list, tt.home)
		if ok != (tt.owner != "") || o.Name != tt.owner {
			t.Errorf("homeOwner(%q) = %q, %v; want %q", tt.home, o.Name, ok, tt.owner)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 problems", 1: "1 problem", 2: "2 problems"} {
		if got := count(n, "problem"); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestShown(t *testing.T) {
	tests := map[string]string{
		"alice@laptop":       "alice@laptop",
		"work key 2024":      "work key 2024",
		"héllo":              "héllo",
		"":                   "",
		"a\x1b[2Jb":          `"a\x1b[2Jb"`,
		"evil\u202etxt.exe":  `"evil\u202etxt.exe"`,
		"two\tcolumns":       `"two\tcolumns"`,
		`back\slash "quote"`: `"back\\slash \"quote\""`,
	}
	for in, want := range tests {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %s, want %s", in, got, want)
		}
	}
}
