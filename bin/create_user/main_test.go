package main

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/myftp/myftp/core/admin"
)

// TestMain makes the test binary double as create_user for the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"create_user": func() {
			os.Exit(admin.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs testdata/script/*.txtar with the runtime root at the script's work directory;
// $WORK_RE is $WORK quoted for a regexp.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("MYFTP_ROOT", env.WorkDir)
			env.Setenv("WORK_RE", regexp.QuoteMeta(env.WorkDir))
			// Under -race, every run of the program would otherwise wait a second as it exits.
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
	})
}
