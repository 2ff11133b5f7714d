package shell

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want [][]string
	}{
		{"", nil},
		{"   \t ", nil},
		{"ls", [][]string{{"ls"}}},
		{"  put  a.txt   b.txt ", [][]string{{"put", "a.txt", "b.txt"}}},
		{"pwd; ls -l;cd sub", [][]string{{"pwd"}, {"ls", "-l"}, {"cd", "sub"}}},
		{"pwd\nls\r\n\n;;cd x", [][]string{{"pwd"}, {"ls"}, {"cd", "x"}}},
		{`put "my file.txt"`, [][]string{{"put", "my file.txt"}}},
		{`put 'my file.txt' 'it''s'`, [][]string{{"put", "my file.txt", "its"}}},
		{`put my\ file.txt`, [][]string{{"put", "my file.txt"}}},
		{`put "a \"quoted\" \\ name" x`, [][]string{{"put", `a "quoted" \ name`, "x"}}},
		{`put "C:\dir\f"`, [][]string{{"put", `C:\dir\f`}}},
		{`put 'a\b' "it's" 'say "hi"'`, [][]string{{"put", `a\b`, "it's", `say "hi"`}}},
		{`rename "" x`, [][]string{{"rename", "", "x"}}},
		{`put a";"b 'c;d' e\;f`, [][]string{{"put", "a;b", "c;d", "e;f"}}},
		{"put 中文名.txt \"报告 2024.pdf\"", [][]string{{"put", "中文名.txt", "报告 2024.pdf"}}},
		{"ls # a comment; not a command\npwd", [][]string{{"ls"}, {"pwd"}}},
		{"# only a comment", nil},
		{"put a#b", [][]string{{"put", "a#b"}}},
		{"put long\\\nname", [][]string{{"put", "longname"}}},
		{"put 'two\nlines'", [][]string{{"put", "two\nlines"}}},
		{`mget *.txt 'f?'`, [][]string{{"mget", "*.txt", "f?"}}},
		// "!" at the start of a command takes the rest of the line as it is.
		{`!ls -l "my dir"; echo 'a'\b # not a comment`, [][]string{{"!", `ls -l "my dir"; echo 'a'\b # not a comment`}}},
		{"pwd; !  echo x  \nls;!", [][]string{{"pwd"}, {"!", "echo x"}, {"ls"}, {"!"}}},
		{"  !", [][]string{{"!"}}},
		{"put a!b !c", [][]string{{"put", "a!b", "!c"}}},
		{`'!x' y`, [][]string{{"!x", "y"}}},
	}
	for _, tt := range tests {
		got, err := Split(tt.in)
		if err != nil {
			t.Errorf("Split(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	for in, want := range map[string]error{
		`put "my file`:   ErrUnterminatedQuote,
		`put 'my file`:   ErrUnterminatedQuote,
		`ls; put "a\"`:   ErrUnterminatedQuote,
		`put name\`:      ErrTrailingBackslash,
		"put 'a'\"b\\\"": ErrUnterminatedQuote,
	} {
		if _, err := Split(in); !errors.Is(err, want) {
			t.Errorf("Split(%q): error %v, want %v", in, err, want)
		}
	}
}

func TestQuoteAndEscapeRoundTrip(t *testing.T) {
	words := []string{"plain", "", "my file.txt", "it's", `a "b"`, `back\slash`, "semi;colon", "#hash", "tab\there",
		"new\nline", "中文 名", "'", `\`, "a'b'c"}
	for _, w := range words {
		for name, f := range map[string]func(string) string{"Quote": Quote, "Escape": Escape} {
			line := "put " + f(w)
			got, err := Split(line)
			if err != nil || len(got) != 1 || len(got[0]) != 2 || got[0][1] != w {
				t.Errorf("%s(%q) = %q: Split gives %q, %v", name, w, f(w), got, err)
			}
		}
	}
	if Quote("plain.txt") != "plain.txt" || Escape("my file") != `my\ file` {
		t.Errorf("Quote or Escape changed more than needed: %q %q", Quote("plain.txt"), Escape("my file"))
	}
}

func TestSplitPartial(t *testing.T) {
	tests := []struct {
		in    string
		words []string
		word  string
		raw   string
		quote byte
	}{
		{"", nil, "", "", 0},
		{"ge", nil, "ge", "ge", 0},
		{"get ", []string{"get"}, "", "", 0},
		{"get fi", []string{"get"}, "fi", "fi", 0},
		{"pwd; get sub/fi", []string{"get"}, "sub/fi", "sub/fi", 0},
		{`get "my fi`, []string{"get"}, "my fi", `"my fi`, '"'},
		{`get my\ fi`, []string{"get"}, "my fi", `my\ fi`, 0},
		{`get 'a`, []string{"get"}, "a", `'a`, '\''},
		{`put a b`, []string{"put", "a"}, "b", "b", 0},
		{"ls # comment", nil, "", "", 0},
	}
	for _, tt := range tests {
		p := splitPartial(tt.in)
		if !reflect.DeepEqual(p.words, tt.words) || p.word != tt.word || p.raw != tt.raw || p.quote != tt.quote {
			t.Errorf("splitPartial(%q) = %+v, want words %q word %q raw %q quote %q", tt.in, p, tt.words, tt.word, tt.raw, tt.quote)
		}
	}
}

// FuzzSplit checks that Split never panics and that what it returns survives a round trip:
// quoting every word and joining the commands gives back the same commands.
func FuzzSplit(f *testing.F) {
	for _, seed := range []string{"ls", `put "my file.txt"; get 'a b' c\ d`, "pwd\nls -l\n", "# c\nx", "a\\\nb", `"\"\\"`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cmds, err := Split(in)
		if err != nil {
			return
		}
		var lines []string
		for _, words := range cmds {
			if len(words) == 0 {
				t.Fatalf("Split(%q) returned an empty command", in)
			}
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = Quote(w)
			}
			lines = append(lines, strings.Join(quoted, " "))
		}
		for _, sep := range []string{"; ", "\n"} {
			again, err := Split(strings.Join(lines, sep))
			if err != nil || !reflect.DeepEqual(again, cmds) {
				t.Fatalf("Split(%q) = %q; quoted and joined with %q: %q, %v", in, cmds, sep, again, err)
			}
		}
		_ = splitPartial(in)
	})
}
