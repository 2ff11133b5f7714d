package bytesize

import (
	"errors"
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"12345", 12345},
		{"1B", 1},
		{"1K", 1024},
		{"1KiB", 1024},
		{"1kib", 1024},
		{"1KB", 1000},
		{"10MB", 10_000_000},
		{"10 MiB", 10 << 20},
		{"1.5G", 3 << 29},
		{"1GiB", 1 << 30},
		{"1gb", 1e9},
		{"2T", 2 << 40},
		{"1TB", 1e12},
		{" 7 ", 7},
		{"1.5B", 1},
		{"0.5KiB", 512},
		{"9223372036854775807", math.MaxInt64},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", ErrSyntax},
		{"12XB", ErrSyntax},
		{"-1", ErrSyntax},
		{"1.2.3K", ErrSyntax},
		{".5K", ErrSyntax},
		{"5.K", ErrSyntax},
		{"K", ErrSyntax},
		{"1 K B", ErrSyntax},
		{"0x10", ErrSyntax},
		{"9223372036854775808", ErrRange},
		{"9000000T", ErrRange},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.in); !errors.Is(err, tt.want) {
			t.Errorf("Parse(%q) error = %v; want %v", tt.in, err, tt.want)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{10 << 20, "10 MiB"},
		{52*MiB + 3*MiB/10 + 1000, "52.3 MiB"},
		{100*MiB - 1, "99.9 MiB"},
		{150*GiB + 1, "150 GiB"},
		{1 << 30, "1 GiB"},
		{5 << 40, "5 TiB"},
		{-2048, "-2 KiB"},
		{math.MaxInt64, "7.9 EiB"},
		{math.MinInt64, "-8 EiB"},
	}
	for _, tt := range tests {
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%d) = %q; want %q", tt.in, got, tt.want)
		}
	}
	if got := FormatExact(10 << 20); got != "10 MiB (10485760 bytes)" {
		t.Errorf("FormatExact = %q", got)
	}
}

// FuzzParse checks that Parse never panics and that every size it accepts formats and re-parses to
// within the rounding of Format.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1.5G", "10 MiB", "12XB", "1KB", "9223372036854775807", ".5", "1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d, negative", s, n)
		}
		back, err := Parse(Format(n))
		if err != nil {
			t.Fatalf("Format(%d) = %q does not parse: %v", n, Format(n), err)
		}
		if back > n {
			t.Fatalf("Format(%d) = %q reads back larger: %d", n, Format(n), back)
		}
	})
}
