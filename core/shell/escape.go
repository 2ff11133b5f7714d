package shell

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// visible renders text that came from the server (names, paths, reply messages) for a terminal:
// what would act on the terminal or change how the line reads is shown as an escape instead. A
// byte that is not UTF-8 and an ASCII control character are written \xNN (ESC is \x1b, BEL \x07,
// a newline \x0a), a C1 control, a bidi control or a line or paragraph separator \u{XXXX}
// (\u{202e}), so that a name such as "\x1b]0;pwned\x07" cannot retitle the window or clear the
// screen (the OpenSSH CVE-2019-6109 class), nor "invoice-\u202efdp.exe" show as invoice-exe.pdf.
// Everything else, accents, CJK and emoji included, is kept as it is. Text the user typed is not
// passed through it unless the server echoes it back.
func visible(s string) string {
	var b strings.Builder
	done := 0 // s[:done] is written to b
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		var esc string
		switch {
		case r == utf8.RuneError && n == 1:
			esc = fmt.Sprintf(`\x%02x`, s[i])
		case !unsafeRune(r):
			i += n
			continue
		case r < utf8.RuneSelf:
			esc = fmt.Sprintf(`\x%02x`, r)
		default:
			esc = fmt.Sprintf(`\u{%04x}`, r)
		}
		b.WriteString(s[done:i])
		b.WriteString(esc)
		i += n
		done = i
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// unsafeRune reports whether visible escapes r: a control character (C0, DEL, C1, NEL among
// them), a bidi control (U+061C, U+200E, U+200F, U+202A-202E, U+2066-2069), or U+2028 or U+2029,
// which start a new line for some terminals and readers.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}
