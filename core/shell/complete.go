package shell

import (
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/myftp/myftp/lib/proto"
)

// completer is the shell's Tab completion (a readline.AutoCompleter): command names first, then
// remote or local paths as the command's argument calls for. Remote names come from a listing of
// the directory of the partial path; directories complete with a "/", files with a space.
type completer struct{ s *session }

// candidate is a name that could complete a word.
type candidate struct {
	name string
	dir  bool
}

// Do returns what can follow the word under the cursor and how many characters of it were typed.
func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	p := splitPartial(string(line[:pos]))
	if len(p.words) == 0 {
		return c.complete(p, "", c.commands())
	}
	cmd := c.s.cmds[p.words[0]]
	if cmd == nil {
		return nil, 0
	}
	dir, _ := splitDir(p.word)
	if strings.HasPrefix(p.word, "-") {
		return nil, 0 // a flag: every command reads a leading dash as one
	}
	switch cmd.argKind(p.words[1:]) {
	case argCommand:
		return c.complete(p, "", c.commands())
	case argRemote:
		return c.complete(p, dir, c.remote(dir))
	case argLocal:
		return c.complete(p, dir, c.local(dir))
	}
	return nil, 0
}

// complete turns the names that start with the typed part into what to insert, written the way
// the word was begun (plain with backslashes, or inside quotes). A name that visible would escape
// is not offered: the line editor would write it to the terminal as it is.
func (c *completer) complete(p partial, dir string, names []candidate) ([][]rune, int) {
	typed := strings.TrimPrefix(p.word, dir)
	var out [][]rune
	for _, n := range names {
		if !strings.HasPrefix(n.name, typed) || (strings.HasPrefix(n.name, ".") && !strings.HasPrefix(typed, ".")) ||
			visible(n.name) != n.name {
			continue
		}
		out = append(out, []rune(insertion(n.name[len(typed):], n.dir, p.quote)))
	}
	raw := p.raw
	if i := strings.LastIndexByte(raw, '/'); i >= 0 {
		raw = raw[i+1:]
	}
	return out, utf8.RuneCountInString(raw)
}

// insertion writes the rest of a name for the quoting in force, and ends it: a directory with a
// slash (the path goes on), anything else with the closing quote and a space.
func insertion(rest string, dir bool, quote byte) string {
	switch quote {
	case '"':
		rest = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(rest)
	case '\'':
		rest = strings.ReplaceAll(rest, "'", `'\''`)
	default:
		rest = Escape(rest)
	}
	if dir {
		return rest + "/"
	}
	if quote != 0 {
		rest += string(quote)
	}
	return rest + " "
}

// splitDir splits a partial path after its last slash.
func splitDir(word string) (dir, base string) {
	i := strings.LastIndexByte(word, '/')
	return word[:i+1], word[i+1:]
}

func (c *completer) commands() []candidate {
	var out []candidate
	for name := range c.s.cmds {
		out = append(out, candidate{name: name})
	}
	slices.SortFunc(out, func(a, b candidate) int { return strings.Compare(a.name, b.name) })
	return out
}

// remote lists a remote directory ("" for the current one). It never reconnects: with no
// session there is nothing to complete.
func (c *completer) remote(dir string) []candidate {
	if c.s.c == nil || c.s.c.Err() != nil {
		return nil
	}
	listed := strings.TrimSuffix(dir, "/")
	if dir == "/" {
		listed = dir
	}
	entries, err := c.s.entries(listed, false)
	if err != nil {
		return nil
	}
	out := make([]candidate, len(entries))
	for i, e := range entries {
		out[i] = candidate{name: e.Name, dir: e.Type == proto.EntryDir}
	}
	return out
}

// local lists a local directory, relative to the local working directory.
func (c *completer) local(dir string) []candidate {
	entries, err := os.ReadDir(c.s.localPath(dir + "."))
	if err != nil {
		return nil
	}
	out := make([]candidate, len(entries))
	for i, e := range entries {
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(c.s.localPath(dir + e.Name())); err == nil {
				isDir = fi.IsDir()
			}
		}
		out[i] = candidate{name: e.Name(), dir: isDir}
	}
	return out
}
