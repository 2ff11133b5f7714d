package shell

import (
	"errors"
	"strings"
)

// Errors of Split.
var (
	ErrUnterminatedQuote = errors.New("shell: unterminated quote")
	ErrTrailingBackslash = errors.New("shell: backslash at the end of the input")
)

// Split parses a command line into commands and their words, the way a POSIX shell would for
// plain words:
//
//   - commands are separated by ';' and newlines; empty commands are dropped;
//   - words are separated by spaces, tabs and carriage returns;
//   - '...' keeps everything up to the next single quote as it is;
//   - "..." keeps everything up to the next double quote, where \" and \\ stand for " and \;
//   - outside quotes a backslash keeps the next character as it is, and a backslash before a
//     newline joins the two lines;
//   - a '#' at the start of a word begins a comment that runs to the end of the line;
//   - a '!' at the start of a command is the word "!", and the rest of the line (up to a
//     newline, ';' and quotes included, leading blanks left out) is one more word, unless it is
//     empty: the command line that "!" gives to the local shell.
//
// It works on bytes, so any text, even invalid UTF-8, comes back unchanged in the words.
func Split(line string) ([][]string, error) {
	var l lexer
	for i := 0; i < len(line); i++ {
		l.feed(line[i], i)
	}
	switch {
	case l.quote != 0:
		return nil, ErrUnterminatedQuote
	case l.escape:
		return nil, ErrTrailingBackslash
	}
	l.endRaw()
	l.endCommand()
	return l.cmds, nil
}

// lexer is the state machine of Split, also used on a partial line for completion.
type lexer struct {
	cmds    [][]string
	words   []string
	word    strings.Builder
	inWord  bool
	start   int  // byte offset in the input where the current word began
	quote   byte // the open quote, or 0
	escape  bool // the previous byte was an unquoted (or double-quoted) backslash
	comment bool
	raw     bool // in the command line of "!", which runs to the end of the line
}

func (l *lexer) feed(c byte, i int) {
	switch {
	case l.comment:
		if c == '\n' {
			l.comment = false
			l.endCommand()
		}
	case l.raw:
		if c == '\n' {
			l.endRaw()
			l.endCommand()
			return
		}
		if l.word.Len() > 0 || (c != ' ' && c != '\t') {
			l.word.WriteByte(c)
		}
	case l.escape:
		l.escaped(c)
	case l.quote == '\'':
		l.inSingle(c)
	case l.quote == '"':
		l.inDouble(c)
	default:
		l.plain(c, i)
	}
}

func (l *lexer) escaped(c byte) {
	l.escape = false
	switch {
	case l.quote == 0 && c == '\n':
		return // line continuation
	case l.quote == '"' && c != '"' && c != '\\':
		l.word.WriteByte('\\')
	}
	l.word.WriteByte(c)
}

func (l *lexer) inSingle(c byte) {
	if c == '\'' {
		l.quote = 0
		return
	}
	l.word.WriteByte(c)
}

func (l *lexer) inDouble(c byte) {
	switch c {
	case '"':
		l.quote = 0
	case '\\':
		l.escape = true
	default:
		l.word.WriteByte(c)
	}
}

func (l *lexer) plain(c byte, i int) {
	switch c {
	case ' ', '\t', '\r':
		l.endWord()
		return
	case ';', '\n':
		l.endWord()
		l.endCommand()
		return
	case '#':
		if !l.inWord {
			l.comment = true
			return
		}
	case '!':
		if !l.inWord && len(l.words) == 0 {
			l.words, l.raw = []string{shellEscape}, true
			return
		}
	}
	if !l.inWord {
		l.inWord, l.start = true, i
	}
	switch c {
	case '\\':
		l.escape = true
	case '\'', '"':
		l.quote = c
	default:
		l.word.WriteByte(c)
	}
}

func (l *lexer) endWord() {
	if l.inWord {
		l.words = append(l.words, l.word.String())
		l.word.Reset()
		l.inWord = false
	}
}

// endRaw ends the command line of "!": it is a word unless it is empty.
func (l *lexer) endRaw() {
	if !l.raw {
		return
	}
	l.raw = false
	if line := strings.TrimRight(l.word.String(), " \t\r"); line != "" {
		l.words = append(l.words, line)
	}
	l.word.Reset()
}

// shellEscape is the command that runs a local command line: "!ls -l".
const shellEscape = "!"

func (l *lexer) endCommand() {
	l.endWord()
	if len(l.words) > 0 {
		l.cmds = append(l.cmds, l.words)
		l.words = nil
	}
}

// special lists the bytes that Quote and Escape protect ('!' only begins a local command line at
// the start of a command, but a word does not know where it will be).
const special = " \t\r\n'\"\\;#!"

// Quote returns word written so that Split reads it back as one word: unchanged if it has no
// special character, else in single quotes, where each single quote of the word is written as
// the four characters below (close the quotes, an escaped quote, open them again):
//
//	'\''
func Quote(word string) string {
	if word != "" && !strings.ContainsAny(word, special) {
		return word
	}
	return "'" + strings.ReplaceAll(word, "'", `'\''`) + "'"
}

// Escape returns word with a backslash before each special character, the form completion
// inserts ("my\ file.txt"). A newline cannot be escaped (backslash-newline joins lines), so it is
// single-quoted.
func Escape(word string) string {
	if word == "" {
		return "''"
	}
	var b strings.Builder
	for i := 0; i < len(word); i++ {
		switch c := word[i]; {
		case c == '\n':
			b.WriteString("'\n'")
		case strings.IndexByte(special, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// partial is the state of a line cut at the cursor, for completion.
type partial struct {
	words []string // the complete words of the command under the cursor
	word  string   // the word being typed, unquoted ("" at the start of a new word)
	raw   string   // the same word as typed, quotes and backslashes included
	quote byte     // the quote open at the cursor, or 0
}

// splitPartial parses line up to the cursor without failing on an open quote.
func splitPartial(line string) partial {
	var l lexer
	for i := 0; i < len(line); i++ {
		l.feed(line[i], i)
	}
	p := partial{words: l.words, quote: l.quote}
	if l.comment {
		return partial{}
	}
	if l.inWord || l.escape {
		p.word, p.raw = l.word.String(), line[l.start:]
	}
	return p
}
