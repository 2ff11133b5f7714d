package storage_test

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/myftp/myftp/lib/storage"
)

// FuzzCheckName: a name CheckName accepts is "." or clean, relative and inside the home, as this
// platform's filepath.IsLocal sees it once made native; one it refuses is refused with ErrInvalid
// in an *fs.PathError naming it. And it refuses no clean local name in valid UTF-8 without a
// backslash or NUL.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{
		".", "a", "a/b", "a b/c%d", "ünï/文件", "...", "..a", "a..", ".myftp/x", " a", "a ",
		"", "/", "/a", "..", "../a", "a/..", "a/../b", "a/./b", "a//b", "a/", "./a", "a\\b", "a\x00b",
		"a:b", "C:", "C:/x", "NUL", "con.txt",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := storage.CheckName(name)
		local := name == "." || (path.Clean(name) == name && filepath.IsLocal(filepath.FromSlash(name)) &&
			!strings.ContainsAny(name, "\\\x00") && utf8.ValidString(name))
		if err != nil {
			var pe *fs.PathError
			if !errors.Is(err, storage.ErrInvalid) || !errors.As(err, &pe) || pe.Path != name {
				t.Errorf("CheckName(%q) = %v; want an *fs.PathError on it wrapping ErrInvalid", name, err)
			}
			if local {
				t.Errorf("CheckName(%q) refuses a clean name inside the home: %v", name, err)
			}
			return
		}
		if !local {
			t.Errorf("CheckName(%q) accepts a name that is not clean or leaves the home (path.Clean %q, filepath.IsLocal %v)",
				name, path.Clean(name), filepath.IsLocal(filepath.FromSlash(name)))
		}
	})
}
