package main

import (
	"fmt"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/myftp/myftp/core/scripttest"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
)

// TestMain makes the test binary double as create_user (and the other programs) for the scripts.
func TestMain(m *testing.M) { scripttest.Main(m) }

// TestScripts runs testdata/script/*.txtar with the runtime root at the script's work directory
// and the accounts in its db/ files; $WORK_RE is $WORK quoted for a regexp (see
// scripttest.Setup). "account NAME" prints what the database holds of an account.
func TestScripts(t *testing.T) {
	testscript.Run(t, params(scripttest.Setup, false))
}

// TestScriptsPostgres runs the same scripts with the accounts in a PostgreSQL database of each
// script's own, on the test server (package pgtest); the condition [pg] holds there, and the
// scripts that test the db/ files themselves skip.
func TestScriptsPostgres(t *testing.T) {
	testscript.Run(t, params(scripttest.PostgresSetup(pgtest.Server(t)), true))
}

func params(setup func(*testscript.Env) error, pg bool) testscript.Params {
	return testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               setup,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"account": scripttest.Account},
		Condition: func(cond string) (bool, error) {
			if cond == "pg" {
				return pg, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	}
}
