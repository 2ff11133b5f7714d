package homefs

import (
	"path"
	"strings"
	"testing"
)

// Paths relative to /m at and one past the limits: exactly MaxPathLen bytes and MaxDepth levels
// once resolved, and one byte or one level more. They are short enough to type: only the
// resolved path is over.
var (
	names15   = strings.TrimPrefix(strings.Repeat("/"+strings.Repeat("n", MaxNameLen), 15), "/")
	atLength  = names15 + "/" + strings.Repeat("x", 253) // "/m/" + 3839 + "/" + 253 = 4096 bytes
	overLimit = names15 + "/" + strings.Repeat("x", 254)
	atDepth   = strings.TrimSuffix(strings.Repeat("a/", MaxDepth-1), "/") // 255 under /m
	overDepth = atDepth + "/a"
)

const (
	tooLong = "invalid path (path longer than 4096 bytes)"
	tooDeep = "invalid path (more than 256 levels deep)"
)

func TestLimitPaths(t *testing.T) {
	t.Parallel()
	for p, want := range map[string]int{atLength: MaxPathLen, overLimit: MaxPathLen + 1} {
		if n := len("/m/" + p); n != want {
			t.Fatalf("a test path is %d bytes, want %d", n, want)
		}
	}
	if n := strings.Count("/m/"+atDepth, "/"); n != MaxDepth {
		t.Fatalf("atDepth is %d levels, want %d", n, MaxDepth)
	}
}

// Every operation that names a path refuses one that resolves past a limit, and accepts one at
// it; mkdir, put, rename and cd are the ones that could make or reach something deeper.
func TestPathLimits(t *testing.T) {
	t.Parallel()
	ops := map[string]func(t *testing.T, f *FS, p string) error{
		"mkdir -p": func(t *testing.T, f *FS, p string) error {
			_, err := f.Mkdir(p, true)
			return err
		},
		"mkdir": func(t *testing.T, f *FS, p string) error {
			mkdirs(t, f, path.Dir(p))
			_, err := f.Mkdir(p, false)
			return err
		},
		"put": func(t *testing.T, f *FS, p string) error {
			mkdirs(t, f, path.Dir(p))
			u, err := f.BeginUpload(p, 4, srcMtime, false, "")
			if err != nil {
				return err
			}
			u.Write([]byte("data"))
			_, err = u.Commit(md5hex([]byte("data")))
			return err
		},
		"rename": func(t *testing.T, f *FS, p string) error {
			mkdirs(t, f, path.Dir(p))
			put(t, f, "/f", []byte("data"))
			return f.Rename("/f", p)
		},
		"cd": func(t *testing.T, f *FS, p string) error {
			mkdirs(t, f, path.Dir(p))
			f.Mkdir(p, false) // made where it may be, so that cd fails on the limit alone
			_, err := f.Chdir(p)
			f.Chdir("/m")
			return err
		},
	}
	tests := []struct {
		name, p string
		want    string // the error message; "" for success
	}{
		{"4096 bytes", atLength, ""},
		{"4097 bytes", overLimit, tooLong},
		{"256 levels", atDepth, ""},
		{"257 levels", overDepth, tooDeep},
	}
	for op, do := range ops {
		for _, tc := range tests {
			t.Run(op+" "+tc.name, func(t *testing.T) {
				t.Parallel()
				base := t.TempDir()
				_, f := openHome(t, base, "u", 1<<20, Options{})
				mkdirs(t, f, "/m")
				if _, err := f.Chdir("/m"); err != nil {
					t.Fatal(err)
				}
				err := do(t, f, tc.p)
				switch {
				case tc.want == "" && err != nil:
					t.Fatalf("%s: %v", op, err)
				case tc.want == "":
					if _, err := f.Stat(tc.p); err != nil {
						t.Errorf("%s succeeded, but Stat: %v", op, err)
					}
				default:
					wantKind(t, op, err, ErrInvalidPath)
					if err != nil && err.Error() != tc.want {
						t.Errorf("%s: %q, want %q", op, err, tc.want)
					}
				}
			})
		}
	}
}

// mkdirs makes the directory p and its parents through f.
func mkdirs(t *testing.T, f *FS, p string) {
	t.Helper()
	if _, err := f.Mkdir(p, true); err != nil {
		t.Fatalf("Mkdir(%.40q, true): %v", p, err)
	}
}

// cd still works for ordinary paths and climbs from the limits.
func TestChdirAtLimits(t *testing.T) {
	t.Parallel()
	_, f := openHome(t, t.TempDir(), "u", 1<<20, Options{})
	mkdirs(t, f, "/m/"+atDepth)
	mkdirs(t, f, "/m/"+atLength)
	steps := []struct{ p, pwd string }{
		{"/m/" + atDepth, "/m/" + atDepth},
		{"..", "/m/" + path.Dir(atDepth)},
		{"/m/" + atLength, "/m/" + atLength},
		{"../../..", "/m/" + path.Dir(path.Dir(path.Dir(atLength)))},
		{"/m/../../../m", "/m"},
		{"", "/"},
	}
	for _, s := range steps {
		if pwd, err := f.Chdir(s.p); err != nil || pwd != s.pwd {
			t.Fatalf("Chdir(%.40q) = %.40q, %v; want %.40q", s.p, pwd, err, s.pwd)
		}
	}
}

// A directory is renamed only if every path in it stays within the limits where it lands.
func TestRenameDirectoryLimits(t *testing.T) {
	t.Parallel()
	n100 := strings.Repeat("n", 100)
	// The deepest path lands at to + "/src/" + inside.
	deep := func(levels int) string { return strings.Repeat("/d", levels) }
	long := func(inside string, extra int) string { return pathOfLen(MaxPathLen - len("/src/"+inside) + extra) }
	tests := []struct {
		name   string
		inside string // a file (a directory if it ends in "/") in the moved directory /src
		to     string // made first; the directory is renamed to to + "/src"
		want   string // in the error message; "" for success
	}{
		{"at depth", "a/b/c/f", deep(MaxDepth - 5), ""},
		{"too deep", "a/b/c/f", deep(MaxDepth - 4),
			"invalid path: " + deep(MaxDepth-4) + "/src (a path in the directory would be more than 256 levels deep)"},
		{"a directory too deep", "a/b/c/d/", deep(MaxDepth - 4), "more than 256 levels deep"},
		{"at length", n100 + "/f", long(n100+"/f", 0), ""},
		{"too long", n100 + "/f", long(n100+"/f", 1),
			"(a path in the directory would be longer than 4096 bytes)"},
		{"a directory too long", n100 + "/", long(n100, 1), "longer than 4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			_, f := openHome(t, base, "u", 1<<20, Options{})
			dir, file := path.Split(tc.inside)
			mkdirs(t, f, "/src/"+dir)
			if file != "" {
				put(t, f, "/src/"+tc.inside, []byte("data"))
			}
			mkdirs(t, f, tc.to)
			before, _ := f.Usage()
			err := f.Rename("/src", tc.to+"/src")
			checkMessage(t, "Rename", err, base)
			moved := "/src"
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Rename: %v", err)
				}
				moved = tc.to + "/src"
			} else {
				wantKind(t, "Rename", err, ErrInvalidPath)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Rename: %v, want %q", err, tc.want)
				}
				if _, err := f.Stat(tc.to + "/src"); err == nil {
					t.Error("the directory was moved")
				}
			}
			if _, err := f.Stat(moved + "/" + tc.inside); err != nil {
				t.Errorf("Stat(%.40q) after the rename: %v", moved+"/"+tc.inside, err)
			}
			if file != "" {
				d, err := f.OpenDownload(moved + "/" + tc.inside)
				if err != nil {
					t.Fatal(err)
				}
				d.Close()
				if d.Recorded("md5") != md5hex([]byte("data")) {
					t.Errorf("MD5 of %s = %q: the md5 record did not follow the file", tc.inside, d.Recorded("md5"))
				}
			}
			checkUsage(t, f, base, "u", before)
		})
	}
}

// pathOfLen returns an absolute path of exactly n bytes (n >= 2) of names no longer than
// MaxNameLen.
func pathOfLen(n int) string {
	var b strings.Builder
	for n > 0 {
		k := min(n, 1+MaxNameLen)
		if n-k == 1 {
			k-- // leave room for a last "/x"
		}
		b.WriteString("/" + strings.Repeat("x", k-1))
		n -= k
	}
	return b.String()
}
