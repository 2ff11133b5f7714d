// Package scripttest is what the testscript tests of the myftp commands (bin/*/main_test.go)
// share: the programs a script runs with exec, served by the test binary itself, and the
// environment every script starts with. It is for tests only.
package scripttest

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/myftp/myftp/core/admin"
	"github.com/myftp/myftp/core/serve"
	"github.com/myftp/myftp/core/shell"
)

// Main is the TestMain of a command's tests: it runs the tests of m, or, when a script started
// the test binary as one of the programs (exec myftpc ...), that program: myftpc, myftps or
// create_user, each run by the real program's Main with the signals its command handles.
func Main(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"myftpc":      myftpc,
		"myftps":      myftps,
		"create_user": createUser,
	})
}

// myftpc runs as bin/myftpc does: SIGTERM ends the run, SIGINT is the shell's.
func myftpc() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	code := shell.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// myftps runs as bin/myftps does: SIGINT and SIGTERM shut the server down.
func myftps() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := serve.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// createUser runs create_user; a signal ends it at once.
func createUser() {
	os.Exit(admin.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Setup sets what every script starts with, for testscript.Params.Setup: the runtime root
// ($MYFTP_ROOT) is the script's work directory, $WORK_RE is $WORK quoted for a regexp,
// $DATABASE is where create_user says the accounts are (the root's db/ here), and $GORACE lets
// a program built with -race exit without waiting a second first.
func Setup(env *testscript.Env) error {
	env.Setenv("MYFTP_ROOT", env.WorkDir)
	env.Setenv("DATABASE", filepath.Join(env.WorkDir, "db"))
	env.Setenv("WORK_RE", regexp.QuoteMeta(env.WorkDir))
	env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return nil
}
