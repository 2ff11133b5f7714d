package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/myftp/myftp/core/scripttest"
)

// TestMain makes the test binary double as create_user (and the other programs) for the scripts.
func TestMain(m *testing.M) { scripttest.Main(m) }

// TestScripts runs testdata/script/*.txtar with the runtime root at the script's work directory;
// $WORK_RE is $WORK quoted for a regexp (see scripttest.Setup).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup:               scripttest.Setup,
	})
}
