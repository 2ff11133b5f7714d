package main

import (
	"context"
	"os"
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

// TestScripts runs testdata/script/*.txtar with the runtime root at the script's work directory.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("MYFTP_ROOT", env.WorkDir)
			return nil
		},
	})
}
