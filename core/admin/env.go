package admin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/myftp/myftp/conf"
	"github.com/myftp/myftp/core/accounts"
	"github.com/myftp/myftp/core/homes"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/storage"
)

// env is what every command works on: the settings of the runtime root and its account database.
type env struct {
	root     string
	settings *conf.Settings
	accounts accounts.Store
}

// objectStore returns the object store that holds the homes, or nil when they are directories
// under upload_dir.
func (e *env) objectStore() (storage.Backend, error) {
	if e.settings.Storage.Backend != "s3" {
		return nil, nil
	}
	return homes.Backend(e.settings)
}

// loadEnv reads the settings named by --root and --conf and opens the database they point to.
// A database that was not there is made, and a warning on stderr says so: create_user run in
// another directory than the server's root would otherwise fill a database no server reads.
func (a *app) loadEnv(ctx context.Context, o *options) (*env, error) {
	root, err := conf.ResolveRoot(o.root, os.Getenv)
	if err != nil {
		return nil, err
	}
	s, err := conf.Load(root, o.conf)
	if err != nil {
		return nil, err
	}
	d, fresh, err := accounts.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	a.opened = append(a.opened, d)
	if fresh {
		fmt.Fprintf(a.stderr, "%s: WARNING: no account database in %s: created a new, empty one. A server sees only "+
			"the accounts of its own root's database (--root, $MYFTP_ROOT or its current directory; this one is %s)\n",
			progName, s.Storage.DBDir, root)
	}
	return &env{root: root, settings: s, accounts: d}, nil
}

// params returns the argon2id cost of new password hashes.
func (e *env) params() account.Params { return e.settings.Auth.Params() }

// homePath returns where the home directory home (slash form, relative) is on disk.
func (e *env) homePath(home string) string {
	return filepath.Join(e.settings.Storage.UploadDir, filepath.FromSlash(home))
}

// get returns the account called name.
func (e *env) get(name string) (account.Account, error) {
	a, err := e.accounts.Get(name)
	return a, notFound(err, name)
}

// update changes the account called name with fn and returns the stored result.
func (e *env) update(name string, fn func(*account.Account)) (account.Account, error) {
	a, err := e.accounts.Update(name, func(a *account.Account) error {
		fn(a)
		return nil
	})
	return a, notFound(err, name)
}

// notFound turns db.ErrNotFound into a message that names the account.
func notFound(err error, name string) error {
	if errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("account %q does not exist", strings.ToLower(name))
	}
	return err
}

// maxFiles is the file count quota of the account a: its own, or the settings' default.
func (e *env) maxFiles(a account.Account) int64 {
	if a.MaxFiles > 0 {
		return a.MaxFiles
	}
	return e.settings.Storage.DefaultMaxFiles
}

// parseFiles parses a file count quota given by the administrator: "" (not given) and 0 mean
// the settings' default.
func parseFiles(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || account.CheckMaxFiles(n) != nil {
		return 0, fmt.Errorf("invalid file count %q: want a whole number, 0 for default_max_files of the settings", s)
	}
	return n, nil
}

// parseQuota parses a quota given by the administrator.
func parseQuota(s string) (int64, error) {
	n, err := bytesize.Parse(s)
	if err != nil {
		return 0, fmt.Errorf("invalid quota %q: want bytes or a size such as 500MiB, 10G or 1.5GB", s)
	}
	return n, nil
}
