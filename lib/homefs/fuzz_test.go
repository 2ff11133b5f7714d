package homefs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzResolve checks resolve's promises for any path from any current directory. The current
// directory is itself made by resolve (as Chdir makes it), from the first argument.
//
// The seed corpus in testdata/fuzz/FuzzResolve holds a few escape attempts; more are added here.
func FuzzResolve(f *testing.F) {
	for _, tc := range escapeCases {
		f.Add("/", tc.p, false)
		f.Add("/docs/sub", tc.p, true)
	}
	for _, p := range []string{"", ".", "/", "a/b/../c", "./.myftp", ".myftp/", ".myftpx", "..myftp", "docs/.myftp",
		"a//b///c/", "/../../..", "../.myftp/sums", "\u00a0", "\u2028", "中文/文件", "\ufeff", "a\u200bb", "...", "..."} {
		f.Add("/docs", p, false)
		f.Add("/docs", p, true)
	}
	f.Fuzz(func(t *testing.T, cwdIn, p string, clamp bool) {
		_, cwd, err := resolve("/", cwdIn, true)
		if err != nil {
			cwd = "/"
		}
		rel, vpath, err := resolve(cwd, p, clamp)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (!errors.Is(err, ErrOutside) && !errors.Is(err, ErrInvalidPath)) {
				t.Fatalf("resolve(%q, %q, %v): error %v is not an ErrOutside or ErrInvalidPath *Error", cwd, p, clamp, err)
			}
			if clamp && errors.Is(err, ErrOutside) {
				t.Fatalf("resolve(%q, %q, clamp): %v; clamping never leaves the home", cwd, p, err)
			}
			return
		}
		checkResolved(t, cwd, p, rel, vpath)

		// What no path may hold is refused, whatever it resolves to.
		if !utf8.ValidString(p) || len(p) > MaxPathLen || strings.ContainsRune(p, '\\') ||
			strings.IndexFunc(p, unicode.IsControl) >= 0 || strings.IndexFunc(p, isBidiOrSeparator) >= 0 {
			t.Fatalf("resolve(%q, %q) accepted an invalid path as %q", cwd, p, rel)
		}
		// The result, however long the current directory, is within the limits, so that
		// resolving it again, from anywhere, is the identity.
		if len(vpath) > MaxPathLen || strings.Count(vpath, "/") > MaxDepth {
			t.Fatalf("resolve(%q, %q) = %q: %d bytes, %d levels", cwd, p, rel, len(vpath), strings.Count(vpath, "/"))
		}
		if rel2, vpath2, err := resolve("/elsewhere", vpath, false); err != nil || rel2 != rel || vpath2 != vpath {
			t.Fatalf("resolve(%q) = %q, %q, %v; want %q, %q again", vpath, rel2, vpath2, err, rel, vpath)
		}
		// Without a climb above the home, clamping changes nothing.
		if !clamp {
			if rel2, vpath2, err := resolve(cwd, p, true); err != nil || rel2 != rel || vpath2 != vpath {
				t.Fatalf("resolve(%q, %q, clamp) = %q, %q, %v; want %q, %q as without", cwd, p, rel2, vpath2, err, rel, vpath)
			}
		}
	})
}

// isBidiOrSeparator reports whether r is a bidi control or a line or paragraph separator.
func isBidiOrSeparator(r rune) bool {
	switch r {
	case '\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e',
		'\u2066', '\u2067', '\u2068', '\u2069', '\u2028', '\u2029':
		return true
	}
	return false
}

func checkResolved(t *testing.T, cwd, p, rel, vpath string) {
	t.Helper()
	if rel == "." {
		if vpath != "/" {
			t.Fatalf("resolve(%q, %q) = %q, %q; the home must be \"/\"", cwd, p, rel, vpath)
		}
		return
	}
	if vpath != "/"+rel {
		t.Fatalf("resolve(%q, %q) = %q, %q; want vpath \"/\"+rel", cwd, p, rel, vpath)
	}
	if !filepath.IsLocal(rel) {
		t.Fatalf("resolve(%q, %q) = %q: not local", cwd, p, rel)
	}
	for i, el := range strings.Split(rel, "/") {
		switch {
		case el == "" || el == "." || el == "..":
			t.Fatalf("resolve(%q, %q) = %q: element %q", cwd, p, rel, el)
		case i == 0 && el == reserved:
			t.Fatalf("resolve(%q, %q) = %q: the reserved directory", cwd, p, rel)
		case len(el) > MaxNameLen:
			t.Fatalf("resolve(%q, %q) = %q: a %d-byte name", cwd, p, rel, len(el))
		}
	}
}

// long16 is a path of exactly MaxPathLen bytes: 16 names of MaxNameLen bytes. deep256 is one of
// exactly MaxDepth levels.
var (
	long16  = strings.Repeat("/"+strings.Repeat("n", MaxNameLen), 16)
	deep256 = strings.Repeat("/a", MaxDepth)
)

// Examples the fuzzer's invariants do not pin down: the exact results.
func TestResolve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cwd, p     string
		clamp      bool
		rel, vpath string
		wantErr    error
	}{
		{"/", "", false, ".", "/", nil},
		{"/", "a", false, "a", "/a", nil},
		{"/docs", "a", false, "docs/a", "/docs/a", nil},
		{"/docs", "/a", false, "a", "/a", nil},
		{"/docs", "..", false, ".", "/", nil},
		{"/docs", "../..", false, "", "", ErrOutside},
		{"/docs", "../..", true, ".", "/", nil},
		{"/docs", "../../x", true, "x", "/x", nil},
		{"/", "a//b/./c/", false, "a/b/c", "/a/b/c", nil},
		{"/", ".myftpx", false, ".myftpx", "/.myftpx", nil},
		{"/", "docs/.myftp", false, "docs/.myftp", "/docs/.myftp", nil},
		{"/", ".myftp/../a", false, "a", "/a", nil},
		{"/", "/.myftp", false, "", "", ErrInvalidPath},
		{"/", "../.myftp", true, "", "", ErrInvalidPath},
		{"/", strings.Repeat("n", 255), false, strings.Repeat("n", 255), "/" + strings.Repeat("n", 255), nil},
		{"/", strings.Repeat("n", 256), false, "", "", ErrInvalidPath},
		{"/", strings.Repeat("é", 128), false, "", "", ErrInvalidPath},         // 256 bytes
		{"/", strings.Repeat("a/", 2048) + "a", false, "", "", ErrInvalidPath}, // 4097 bytes typed
		// The resolved path: at most MaxPathLen bytes and MaxDepth levels, wherever cwd is.
		{"/", long16[1:], false, long16[1:], long16, nil},
		{"/x", long16[1:], false, "", "", ErrInvalidPath},
		{long16, ".", false, long16[1:], long16, nil},
		{long16, "..", true, long16[1 : len(long16)-256], long16[:len(long16)-256], nil},
		{long16, "x", false, "", "", ErrInvalidPath},
		{"/", deep256[1:], false, deep256[1:], deep256, nil},
		{"/", deep256 + "/a", false, "", "", ErrInvalidPath},
		{deep256, "a", false, "", "", ErrInvalidPath},
		{deep256, "../a", false, deep256[1:len(deep256)-1] + "a", deep256[:len(deep256)-1] + "a", nil},
		{deep256, "../../../..", true, deep256[1 : len(deep256)-8], deep256[:len(deep256)-8], nil},
		{"/", "tab\tname", false, "", "", ErrInvalidPath},
		{"/", "c1\u0085name", false, "", "", ErrInvalidPath},
		{"/", "文件 名", false, "文件 名", "/文件 名", nil},
		// Bidi controls and line separators, refused like control characters; other invisible
		// or space characters are names like any other (the transfer log escapes them).
		{"/", "invoice-\u202efdp.exe", false, "", "", ErrInvalidPath},
		{"/", "a\u2028b", false, "", "", ErrInvalidPath},
		{"/", "a\u2029b", false, "", "", ErrInvalidPath},
		{"/", "\u2066x\u2069", false, "", "", ErrInvalidPath},
		{"/", "\u061cx", false, "", "", ErrInvalidPath},
		{"/", "x\u200e", false, "", "", ErrInvalidPath},
		{"/", "nbsp\u00a0name", false, "nbsp\u00a0name", "/nbsp\u00a0name", nil},
		{"/", "שלום.txt", false, "שלום.txt", "/שלום.txt", nil},
		{"/", "👩\u200d💻", false, "👩\u200d💻", "/👩\u200d💻", nil},
	}
	for _, tc := range tests {
		rel, vpath, err := resolve(tc.cwd, tc.p, tc.clamp)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("resolve(%q, %.20q, %v) = %q, %q, %v; want %v", tc.cwd, tc.p, tc.clamp, rel, vpath, err, tc.wantErr)
			}
			continue
		}
		if err != nil || rel != tc.rel || vpath != tc.vpath {
			t.Errorf("resolve(%q, %.20q, %v) = %.20q, %.20q, %v; want %.20q, %.20q", tc.cwd, tc.p, tc.clamp, rel, vpath, err, tc.rel, tc.vpath)
		}
	}
}

// A refused name is refused with a detail that says why, and without echoing the name, which
// could do to a terminal or a log what it was refused for; a backslash, harmless to print, is
// named with its path only when nothing else is wrong.
func TestCheckNameDetail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p, path, detail string
	}{
		{"a\x1b[2Jb", "", "control character"},
		{"a\u0085b", "", "control character"},
		{"invoice-\u202efdp.exe", "", "bidi control character"},
		{"\u2067x\u2069", "", "bidi control character"},
		{"a\u200fb", "", "bidi control character"},
		{"\u061c", "", "bidi control character"},
		{"a\u2028b", "", "line separator"},
		{"a\u2029b", "", "paragraph separator"},
		{`a\b`, `a\b`, "backslash"},
		{"a\\b\u2028", "", "line separator"},
		{"a\\b\x1b]0;x\x07", "", "control character"},
	}
	for _, tc := range tests {
		err := checkName(tc.p)
		var e *Error
		if !errors.As(err, &e) || e.Kind != ErrInvalidPath || e.Path != tc.path || e.Detail != tc.detail {
			t.Errorf("checkName(%q) = %#v; want ErrInvalidPath, path %q, detail %q", tc.p, err, tc.path, tc.detail)
		}
	}
}
