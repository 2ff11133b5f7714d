package scripttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/myftp/myftp/conf"
	"github.com/myftp/myftp/core/accounts"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
)

// Account is the script command "account NAME": it prints the stored record of the account NAME,
// as indented JSON (the form of an account file), from the account database the settings of
// $MYFTP_ROOT name, whichever backend that is; "! account NAME" succeeds when there is none. So a
// script checks what create_user stored, the same on the files and on PostgreSQL.
func Account(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: account NAME")
	}
	s, err := conf.Load(ts.Getenv("MYFTP_ROOT"), "")
	ts.Check(err)
	store, _, err := accounts.Open(context.Background(), s)
	ts.Check(err)
	defer store.Close()
	a, err := store.Get(args[0])
	switch {
	case errors.Is(err, account.ErrNotFound):
		if !neg {
			ts.Fatalf("no account %q in %s", args[0], store.Where())
		}
		return
	case err != nil:
		ts.Fatalf("%v", err)
	case neg:
		ts.Fatalf("account %q exists in %s", args[0], store.Where())
	}
	data, err := json.MarshalIndent(a, "", "  ")
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n", data)
}

// PostgresSetup is Setup for a run of the scripts with the accounts in PostgreSQL: each script
// gets a database of its own on the test server (package pgtest), named in its settings
// (added to $WORK/conf/settings.toml: [accounts] backend = "postgres"), dropped at its end, and
// $DATABASE says it as create_user does.
// admin is the superuser's connection string of the test server.
func PostgresSetup(admin string) func(*testscript.Env) error {
	return func(env *testscript.Env) error {
		if err := Setup(env); err != nil {
			return err
		}
		dsn, drop, err := pgtest.NewDatabase(admin)
		if err != nil {
			return err
		}
		env.Defer(func() {
			if err := drop(); err != nil {
				env.T().Log(err)
			}
		})
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return err
		}
		env.Setenv("DATABASE", fmt.Sprintf("PostgreSQL database %s on %s:%d", cfg.Database, cfg.Host, cfg.Port))
		settings := fmt.Sprintf("[accounts]\nbackend = \"postgres\"\ndsn = %q\n", dsn)
		return writeSettings(env.WorkDir, settings)
	}
}

// writeSettings adds settings to the settings file of the root dir (the script's own, if it
// brings one), which must not have them already.
func writeSettings(dir, settings string) error {
	file := filepath.Join(dir, "conf", "settings.toml")
	old, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if strings.Contains(string(old), "[accounts]") {
		return fmt.Errorf("%s: the script sets [accounts] itself", file)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return os.WriteFile(file, append(old, "\n"+settings...), 0o600)
}
