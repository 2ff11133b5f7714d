package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/storage"
)

// list shows every account as a table.
func (a *app) list(ctx context.Context, o *options, _ []string) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	accts, err := e.accounts.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCOUNT\tHOME\tQUOTA\tUSED\tFILES\tDISABLED")
	for _, ac := range accts {
		used, files := a.used(e, ac.Home)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s/%d\t%s\n", ac.ID, ac.Name, ac.Home,
			bytesize.Format(ac.Quota), used, files, e.maxFiles(ac), yesNo(ac.Disabled))
	}
	return tw.Flush()
}

// used returns the disk use and the file count of a home for the table: "-" when the home is
// missing, "?" (with a note on stderr) when it cannot be read.
func (a *app) used(e *env, home string) (bytes, files string) {
	var u homefs.Usage
	b, err := e.objectStore()
	switch {
	case err != nil:
	case b != nil:
		u, err = homefs.MeasureHome(b, home)
	default:
		u, err = homefs.Measure(e.homePath(home))
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "-", "-"
	case err != nil:
		fmt.Fprintf(a.stderr, "%s: note: %v\n", progName, err)
		return "?", "?"
	}
	return bytesize.Format(u.Bytes), strconv.FormatInt(u.Files, 10)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// passwd sets a new password.
func (a *app) passwd(ctx context.Context, o *options, args []string) error {
	if !o.passwordStdin && !a.con.terminal() {
		return &usageError{cmd: "passwd", err: errors.New("stdin is not a terminal: give --password-stdin and the password on the first line of stdin")}
	}
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	acct, err := e.get(args[0])
	if err != nil {
		return err
	}
	pw, err := a.newPassword(ctx, e, o.passwordStdin, "New password: ", "Retype new password: ")
	if err != nil {
		return err
	}
	hash, err := account.HashPassword(pw, e.params())
	if err != nil {
		return err
	}
	if _, err := e.update(acct.Name, func(ac *account.Account) { ac.PasswordHash = hash }); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Account [%s] password changed\n", acct.Name)
	return nil
}

// setQuota is the "quota" subcommand: the quota in bytes and, with --files, the file count quota.
func (a *app) setQuota(ctx context.Context, o *options, args []string) error {
	q, err := parseQuota(args[1])
	if err != nil {
		return err
	}
	files, err := parseFiles(o.files)
	if err != nil {
		return err
	}
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	acct, err := e.update(args[0], func(ac *account.Account) {
		ac.Quota = q
		if o.files != "" {
			ac.MaxFiles = files
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Account [%s] quota set to %s\n", acct.Name, bytesize.FormatExact(acct.Quota))
	switch {
	case o.files == "":
	case acct.MaxFiles == 0:
		fmt.Fprintf(a.stdout, "Account [%s] file count quota set to the default, default_max_files: %d\n", acct.Name, e.maxFiles(acct))
	default:
		fmt.Fprintf(a.stdout, "Account [%s] file count quota set to %d files and directories\n", acct.Name, acct.MaxFiles)
	}
	return nil
}

func (a *app) disable(ctx context.Context, o *options, args []string) error {
	return a.setDisabled(ctx, o, args[0], true)
}

func (a *app) enable(ctx context.Context, o *options, args []string) error {
	return a.setDisabled(ctx, o, args[0], false)
}

func (a *app) setDisabled(ctx context.Context, o *options, name string, disabled bool) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	acct, err := e.update(name, func(ac *account.Account) { ac.Disabled = disabled })
	if err != nil {
		return err
	}
	state := "enabled"
	if disabled {
		state = "disabled"
	}
	fmt.Fprintf(a.stdout, "Account [%s] %s\n", acct.Name, state)
	return nil
}

// delete removes an account and, with --remove-home, its home directory. Once the account file is
// removed the deletion goes on: a failure to update id_user_rs.json is only a warning, with the
// command that rebuilds it.
func (a *app) delete(ctx context.Context, o *options, args []string) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	acct, err := e.get(args[0])
	if err != nil {
		return err
	}
	if b, err := e.objectStore(); err != nil {
		return err
	} else if b != nil {
		return a.deleteOnStore(e, b, acct, o.removeHome)
	}
	dir, exists, err := e.removableHome(acct.Home)
	if err != nil && o.removeHome {
		return err
	}
	_, err = e.accounts.Delete(acct.Name)
	if errors.Is(err, db.ErrMappingStale) {
		defer fmt.Fprintf(a.stderr, "%s: warning: %s; run '%s check --repair' to rebuild it\n", progName, message(err), progName)
	} else if err != nil {
		return notFound(err, acct.Name)
	}
	switch {
	case !exists:
		fmt.Fprintf(a.stdout, "Account [%s] deleted; it had no home directory %s\n", acct.Name, dir)
	case !o.removeHome:
		fmt.Fprintf(a.stdout, "Account [%s] deleted; its home directory %s is kept\n", acct.Name, dir)
	default:
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("account %q was deleted, but removing its home directory failed: %w", acct.Name, err)
		}
		fmt.Fprintf(a.stdout, "Account [%s] deleted and its home directory %s removed\n", acct.Name, dir)
	}
	return nil
}

// deleteOnStore deletes the account acct whose home is on the object store b, and with
// removeHome everything its home holds there.
func (a *app) deleteOnStore(e *env, b storage.Backend, acct account.Account, removeHome bool) error {
	ctx := context.Background()
	_, err := e.accounts.Delete(acct.Name)
	if errors.Is(err, db.ErrMappingStale) {
		defer fmt.Fprintf(a.stderr, "%s: warning: %s; run '%s check --repair' to rebuild it\n", progName, message(err), progName)
	} else if err != nil {
		return notFound(err, acct.Name)
	}
	where := fmt.Sprintf("%s on s3 (bucket %s)", acct.Home, e.settings.Storage.S3.Bucket)
	if !removeHome {
		fmt.Fprintf(a.stdout, "Account [%s] deleted; its home %s is kept\n", acct.Name, where)
		return nil
	}
	if err := b.RemoveHome(ctx, acct.Home); err != nil {
		return fmt.Errorf("account %q was deleted, but removing its home failed: %w", acct.Name, err)
	}
	fmt.Fprintf(a.stdout, "Account [%s] deleted and its home %s removed\n", acct.Name, where)
	return nil
}

// removableHome returns the path of the home directory home and whether it exists. The error
// says why the path must not be removed: its real path, with symbolic links resolved, is not
// strictly inside the upload directory.
func (e *env) removableHome(home string) (dir string, exists bool, err error) {
	dir = e.homePath(home)
	real, err := filepath.EvalSymlinks(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dir, false, nil
	}
	if err != nil {
		return dir, true, fmt.Errorf("home directory: %w", err)
	}
	base, err := filepath.EvalSymlinks(e.settings.Storage.UploadDir)
	if err != nil {
		return dir, true, fmt.Errorf("upload directory: %w", err)
	}
	rel, err := filepath.Rel(base, real)
	if err != nil || rel == "." || !filepath.IsLocal(rel) {
		return dir, true, fmt.Errorf("refusing to remove home directory %s: it leads to %s, outside the upload directory %s", dir, real, base)
	}
	return dir, true, nil
}

// check reports the problems of the database and, with --repair, repairs what it can. Only the
// account files can disagree with each other; PostgreSQL keeps its own consistency.
func (a *app) check(ctx context.Context, o *options, _ []string) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	files, ok := e.accounts.(*db.DB)
	if !ok {
		return a.checkKeys(e)
	}
	probs, err := a.findProblems(files)
	if err != nil || len(probs) == 0 {
		return err
	}
	if !o.repair {
		return fmt.Errorf("%s found; '%s check --repair' removes leftover temporary files and rebuilds %s and %s",
			count(len(probs), "problem"), progName, "id_user_rs.json", "last_id")
	}
	if err := files.Repair(); err != nil {
		return fmt.Errorf("repair: %w", err)
	}
	fmt.Fprintln(a.stdout, "repaired")
	left, err := a.findProblems(files)
	if err != nil || len(left) == 0 {
		return err
	}
	return fmt.Errorf("%s left: unreadable account records and invalid keys need a person to look at them", count(len(left), "problem"))
}

// checkKeys reports the SSH keys that cannot log in (only an edit by hand makes one) of a
// database that keeps its own consistency otherwise (PostgreSQL), or "database ok".
func (a *app) checkKeys(e *env) error {
	list, err := e.accounts.List()
	if err != nil {
		return err
	}
	n := 0
	for _, acct := range list {
		for i, k := range acct.Keys {
			if _, err := k.PublicKey(); err != nil {
				fmt.Fprintf(a.stdout, "account %s: key %d (%s) cannot log in: %v\n", acct.Name, i+1, cmp.Or(k.Fingerprint(), "no fingerprint"), err)
				n++
			}
		}
	}
	if n > 0 {
		return fmt.Errorf("%s found; remove the keys with '%s key remove NAME FINGERPRINT'", count(n, "problem"), progName)
	}
	fmt.Fprintln(a.stdout, "database ok")
	return nil
}

// findProblems runs db.Check and prints its problems, one a line, or "database ok".
func (a *app) findProblems(d *db.DB) ([]db.Problem, error) {
	probs, err := d.Check()
	if err != nil {
		return nil, err
	}
	for _, p := range probs {
		fmt.Fprintln(a.stdout, p)
	}
	if len(probs) == 0 {
		fmt.Fprintln(a.stdout, "database ok")
	}
	return probs, nil
}

// count returns "1 problem", "2 problems".
func count(n int, noun string) string {
	if n != 1 {
		noun += "s"
	}
	return strconv.Itoa(n) + " " + noun
}
