package homefs

import (
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the paths a user may name.
const (
	MaxNameLen = 255  // bytes in one path element
	MaxPathLen = 4096 // bytes in a whole path, as typed and as resolved ("/a/b" is 4)

	// MaxDepth is the most elements a resolved path may have ("/a/b" has 2). Each request's path is
	// bounded by MaxPathLen, but os.Root resolves a path one element at a time, so without a bound
	// on the result a user could build, one mkdir and cd at a time, a tree whose every walk (the
	// usage count at first login, a rename, create_user list) costs time and memory without limit.
	// With MaxPathLen (Linux's PATH_MAX) and MaxDepth, nothing a user makes is deeper than 256
	// levels or longer than 4096 bytes: Mkdir, BeginUpload and Rename refuse what would be, and
	// no operation names anything beyond. Trees made on the server by other means may be deeper;
	// walks cost memory in proportion to their depth (see local.WalkTree).
	MaxDepth = 256
)

// reserved is the directory at the top of every home where the server keeps unfinished uploads and
// md5 records. Users can neither see nor name it.
const reserved = ".myftp"

// resolve turns a path as the user names it (absolute from the home, or relative to cwd) into a
// clean relative path inside the home ("." for the home itself) and the clean virtual path the
// user sees ("/" or "/docs/a.txt"). ".." that would climb above the home is an error, unless
// clamp is set (cd), where it stops at "/" as in a shell.
func resolve(cwd, p string, clamp bool) (rel, vpath string, err error) {
	if err := checkName(p); err != nil {
		return "", "", err
	}
	full := p
	if !strings.HasPrefix(p, "/") {
		full = cwd + "/" + p
	}
	parts := make([]string, 0, 8)
	for _, c := range strings.Split(full, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				if clamp {
					continue
				}
				return "", "", newErr(ErrOutside, p, "")
			}
			parts = parts[:len(parts)-1]
		default:
			if len(c) > MaxNameLen {
				return "", "", newErr(ErrInvalidPath, "", "a name is longer than 255 bytes")
			}
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return ".", "/", nil
	}
	if err := checkLimits(parts); err != nil {
		return "", "", err
	}
	vpath = "/" + strings.Join(parts, "/")
	if parts[0] == reserved {
		return "", "", newErr(ErrInvalidPath, vpath, "reserved name")
	}
	rel = strings.Join(parts, "/")
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", "", newErr(ErrInvalidPath, vpath, "")
	}
	return rel, vpath, nil
}

// checkLimits refuses a path of the elements parts that is longer than MaxPathLen or deeper than
// MaxDepth.
func checkLimits(parts []string) error {
	n := 0
	for _, c := range parts {
		n += 1 + len(c)
	}
	switch {
	case n > MaxPathLen:
		return newErr(ErrInvalidPath, "", "path longer than 4096 bytes")
	case len(parts) > MaxDepth:
		return newErr(ErrInvalidPath, "", "more than 256 levels deep")
	}
	return nil
}

// checkName refuses what no path may contain: invalid UTF-8, NUL and other control characters
// (C0, DEL and C1, NEL among them), the bidi controls that make a name read in another order than
// it is stored (invoice-U+202E-fdp.exe shows as invoice-exe.pdf), the line and paragraph
// separators U+2028 and U+2029 that split a line for many readers, backslashes (a separator on
// Windows) and overlong paths. Only the refusal of a backslash names the path, and only when
// nothing else is wrong with it: the others could do to a terminal or a log what the name was
// refused for.
func checkName(p string) error {
	if len(p) > MaxPathLen {
		return newErr(ErrInvalidPath, "", "longer than 4096 bytes")
	}
	if !utf8.ValidString(p) {
		return newErr(ErrInvalidPath, "", "not valid UTF-8")
	}
	backslash := false
	for _, r := range p {
		switch {
		case r == '\\':
			backslash = true
		case unicode.IsControl(r):
			return newErr(ErrInvalidPath, "", "control character")
		case unicode.Is(unicode.Bidi_Control, r): // U+061C, U+200E-200F, U+202A-202E, U+2066-2069
			return newErr(ErrInvalidPath, "", "bidi control character")
		case r == '\u2028':
			return newErr(ErrInvalidPath, "", "line separator")
		case r == '\u2029':
			return newErr(ErrInvalidPath, "", "paragraph separator")
		}
	}
	if backslash {
		return newErr(ErrInvalidPath, p, "backslash")
	}
	return nil
}
