package server_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// module is the import path of this repository's packages.
const module = "github.com/myftp/myftp/"

// TestNoCommandExecution holds the promise that the server never runs an external program: no
// package of this module that myftps is built from, and none under lib/, imports os/exec (tests
// aside, and on every system). myftpc's shell (core/shell) may: its "!" runs a command line on the
// user's own machine, at the user's request, as sftp's and lftp's do; the test checks that myftps
// is not built from it.
func TestNoCommandExecution(t *testing.T) {
	fset := token.NewFileSet()
	seen := map[string]bool{}
	var visit func(pkg string)
	visit = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		dir := filepath.Join("..", "..", filepath.FromSlash(strings.TrimPrefix(pkg, module)))
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				switch {
				case p == "os/exec":
					t.Errorf("%s imports os/exec", filepath.Join(dir, name))
				case strings.HasPrefix(p, module):
					visit(p)
				}
			}
		}
	}
	visit(module + "bin/myftps")
	libs, err := os.ReadDir(filepath.Join("..", "..", "lib"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range libs {
		if e.IsDir() {
			visit(module + "lib/" + e.Name())
		}
	}
	for _, pkg := range []string{"core/serve", "core/server", "core/ftpdoor", "core/sftpdoor", "lib/homefs"} {
		if !seen[module+pkg] {
			t.Errorf("%s is not among the packages checked: is myftps built from it no more?", pkg)
		}
	}
	if seen[module+"core/shell"] {
		t.Error("myftps is built from core/shell, whose \"!\" runs programs")
	}
}
