package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/db"
)

// homeMode is the mode of every directory made for a home.
const homeMode = 0o700

// newAccount is what the administrator asked for.
type newAccount struct {
	name, home, password string
	quota                int64
}

// create is the form without a subcommand: interactive, or from --account and friends.
func (a *app) create(ctx context.Context, o *options) error {
	if !o.given["account"] {
		for _, name := range []string{"home", "quota", "password-stdin"} {
			if o.given[name] {
				return &usageError{err: fmt.Errorf("--%s needs --account", name)}
			}
		}
	} else if !o.passwordStdin && !a.con.terminal() {
		return &usageError{err: errors.New("stdin is not a terminal: give --password-stdin and the password on the first line of stdin")}
	}
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	if !o.given["account"] {
		return a.createInteractive(ctx, e)
	}
	return a.createFromFlags(ctx, e, o)
}

// createInteractive prompts for every value, checking each answer before the next question. On
// a terminal a bad answer is explained and asked again; without one (answers read from a file)
// the first bad answer ends the run, since the next line was meant for another question.
func (a *app) createInteractive(ctx context.Context, e *env) error {
	var n newAccount
	err := a.askValid(ctx, "Account: ", "account name", func(answer string) (err error) {
		n.name, err = e.newName(answer)
		return err
	})
	if err != nil {
		return err
	}
	if n.password, err = a.newPassword(ctx, e, false, "Password: ", "Retype password: "); err != nil {
		return err
	}
	err = a.askValid(ctx, fmt.Sprintf("Home directory(%s): ", n.name), "home directory", func(answer string) (err error) {
		n.home, err = e.newHome(answer, n.name)
		return err
	})
	if err != nil {
		return err
	}
	quota := fmt.Sprintf("Quota(%s; bytes, or a size such as 500MiB or 10GiB): ", bytesize.Format(int64(e.settings.Storage.DefaultQuota)))
	err = a.askValid(ctx, quota, "quota", func(answer string) (err error) {
		n.quota, err = e.quotaOrDefault(answer)
		return err
	})
	if err != nil {
		return err
	}
	return a.store(e, n)
}

// maxTries is how many times a person at a terminal is asked for one value before create_user
// gives up.
const maxTries = 5

// askValid asks prompt until check accepts the answer: on a terminal a refused answer is
// explained on stderr and asked again, up to maxTries times; otherwise the first refusal is the
// error. what names the value in an error of the input itself.
func (a *app) askValid(ctx context.Context, prompt, what string, check func(answer string) error) error {
	for try := 1; ; try++ {
		answer, err := a.con.ask(ctx, prompt)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err = check(answer); err == nil || !a.retry(err, try) {
			return err
		}
	}
}

// retry reports whether a refused answer may be given again, the try-th time: only on a
// terminal, and at most maxTries times. If so it says why the answer was refused.
func (a *app) retry(err error, try int) bool {
	if !a.con.terminal() || try >= maxTries {
		return false
	}
	fmt.Fprintf(a.stderr, "%s; try again\n", message(err))
	return true
}

// createFromFlags checks the flags, then reads the password.
func (a *app) createFromFlags(ctx context.Context, e *env, o *options) error {
	var n newAccount
	var err error
	if n.name, err = e.newName(o.account); err != nil {
		return err
	}
	if n.home, err = e.newHome(o.home, n.name); err != nil {
		return err
	}
	if n.quota, err = e.quotaOrDefault(o.quota); err != nil {
		return err
	}
	if n.password, err = a.newPassword(ctx, e, o.passwordStdin, "Password: ", "Retype password: "); err != nil {
		return err
	}
	return a.store(e, n)
}

// newPassword reads a password: the first line of stdin if fromStdin, else typed twice at prompts.
// On a terminal, a password that is refused (empty, too short) or not typed the same twice is
// asked for again, up to maxTries times.
func (a *app) newPassword(ctx context.Context, e *env, fromStdin bool, prompt, again string) (string, error) {
	if fromStdin {
		pw, err := a.con.readLine(ctx)
		if err != nil {
			return "", fmt.Errorf("password from stdin: %w", err)
		}
		return pw, e.checkPassword(pw)
	}
	for try := 1; ; try++ {
		pw, err := a.typedPassword(ctx, e, prompt, again)
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, errNoInput) || !a.retry(err, try) {
			return pw, err
		}
	}
}

// typedPassword reads a password at prompt, checks it, and reads it again at again.
func (a *app) typedPassword(ctx context.Context, e *env, prompt, again string) (string, error) {
	pw, err := a.con.secret(ctx, prompt)
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	if err := e.checkPassword(pw); err != nil {
		return "", err
	}
	retyped, err := a.con.secret(ctx, again)
	if err != nil {
		return "", fmt.Errorf("password: %w", err)
	}
	if retyped != pw {
		return "", errors.New("passwords do not match")
	}
	return pw, nil
}

// checkPassword refuses an empty password, and one shorter than min_password_length of the
// settings, saying why.
func (e *env) checkPassword(pw string) error {
	if pw == "" {
		return errors.New("password must not be empty")
	}
	if n, least := utf8.RuneCountInString(pw), e.settings.Auth.MinPasswordLength; n < least {
		return fmt.Errorf("password too short: %d characters, at least %d (min_password_length in [auth] of the settings)", n, least)
	}
	return nil
}

// newName normalises the name of a new account and fails if it is invalid or taken.
func (e *env) newName(answer string) (string, error) {
	name, err := account.NormalizeName(strings.TrimSpace(answer))
	if err != nil {
		return "", err
	}
	_, err = e.accounts.Get(name)
	if err == nil {
		return "", fmt.Errorf("account %q already exists", name)
	}
	if !errors.Is(err, db.ErrNotFound) {
		return "", err
	}
	return name, nil
}

// newHome normalises the home of a new account ("" means the name) and fails if it is invalid or
// overlaps the home of another account. It also fails while an account file is unreadable: that
// account's home is unknown, so no home can be shown to be free (and db.Create would refuse).
func (e *env) newHome(answer, name string) (string, error) {
	if strings.TrimSpace(answer) == "" {
		answer = name
	}
	home, err := account.NormalizeHome(answer)
	if err != nil {
		return "", err
	}
	list, err := e.accounts.ListAll()
	if err != nil {
		return "", withCheckHint(err)
	}
	if other, ok := homeOwner(list, home); ok {
		return "", homeTaken(home, other)
	}
	return home, nil
}

// homeOwner returns the account whose home is home, or contains it, or is inside it.
func homeOwner(list []account.Account, home string) (account.Account, bool) {
	for _, a := range list {
		if a.Home == home || strings.HasPrefix(home, a.Home+"/") || strings.HasPrefix(a.Home, home+"/") {
			return a, true
		}
	}
	return account.Account{}, false
}

func homeTaken(home string, other account.Account) error {
	if other.Home == home {
		return fmt.Errorf("home directory %q is already used by account %q", home, other.Name)
	}
	return fmt.Errorf("home directory %q overlaps %q, the home of account %q", home, other.Home, other.Name)
}

// withCheckHint adds to an error about an unreadable database file (db.ErrCorrupt) that no account
// can be created until it is fixed, and what to run to see every problem. Other errors are
// returned as they are.
func withCheckHint(err error) error {
	if !errors.Is(err, db.ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w; no account can be created until it is fixed: run '%s check' to see what to do", err, progName)
}

// quotaOrDefault parses answer, or returns the settings' default quota for "".
func (e *env) quotaOrDefault(answer string) (int64, error) {
	if strings.TrimSpace(answer) == "" {
		return int64(e.settings.Storage.DefaultQuota), nil
	}
	return parseQuota(answer)
}

// store hashes the password, stores the account, makes its home and shows the result.
func (a *app) store(e *env, n newAccount) error {
	hash, err := account.HashPassword(n.password, e.params())
	if err != nil {
		return err
	}
	acct, err := e.accounts.Create(account.Account{Name: n.name, Home: n.home, Quota: n.quota, PasswordHash: hash})
	switch {
	case errors.Is(err, db.ErrExists): // created by someone else since newName looked
		return fmt.Errorf("account %q already exists", n.name)
	case errors.Is(err, db.ErrHomeTaken):
		return fmt.Errorf("home directory %q is already used by another account", n.home)
	case err != nil:
		return fmt.Errorf("create account %q: %w", n.name, withCheckHint(err))
	}
	if err := a.makeHome(e, acct.Home); err != nil {
		return fmt.Errorf("account %q was created, but its home directory was not: %w; "+
			"create it (mode 0700) or delete the account with '%s delete %s'", acct.Name, err, progName, acct.Name)
	}
	writeBox(a.stdout, acct, e.accounts.Where())
	return nil
}

// makeHome creates the home directory, and every missing parent, with mode 0700. A directory
// that is already there is kept as it is, with a note: its files now belong to the new account.
func (a *app) makeHome(e *env, home string) error {
	dir := e.homePath(home)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		fmt.Fprintf(a.stderr, "%s: note: home directory %s already exists; its files are kept\n", progName, dir)
		return nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.MkdirAll(dir, homeMode)
}

// writeBox writes the summary shown after an account is created in the database dbDir.
func writeBox(w io.Writer, a account.Account, dbDir string) {
	const width, title = 50, "ACCOUNT INFO"
	side := strings.Repeat("=", (width-len(title))/2)
	var b strings.Builder
	b.WriteString(side + title + side + "\n")
	rows := [][2]string{{"Account:", a.Name}, {"Home Dir:", a.Home}, {"Quota:", bytesize.FormatExact(a.Quota)}, {"Database:", dbDir}}
	for _, r := range rows {
		fmt.Fprintf(&b, "%13s%-14s%s\n", "", r[0], r[1])
	}
	b.WriteString(strings.Repeat("=", width) + "\n")
	io.WriteString(w, b.String())
}
