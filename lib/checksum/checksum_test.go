package checksum

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"lukechampine.com/blake3"
)

func random(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestBLAKE3MatchesReference: the digest equals lukechampine.com/blake3's Sum256 for every length
// around the chunk and tree boundaries, whatever the sizes of the writes.
func TestBLAKE3MatchesReference(t *testing.T) {
	t.Parallel()
	data := random(300<<10+17, 1)
	var lengths []int
	for n := 0; n <= 4*1024+2; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 16<<10, 16<<10+1, 17<<10, 64<<10-1, 64<<10, 100<<10+3, 256<<10, len(data))
	rng := rand.New(rand.NewPCG(2, 3))
	for _, n := range lengths {
		want := blake3.Sum256(data[:n])
		for _, split := range []int{0, 1, 64, 1000, 1024, 1025, 8192, 70000} {
			h := New(BLAKE3)
			for rest := data[:n]; len(rest) > 0; {
				k := len(rest)
				if split > 0 {
					k = min(k, 1+rng.IntN(split))
				}
				h.Write(rest[:k])
				rest = rest[k:]
			}
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Fatalf("blake3 of %d bytes written in pieces of up to %d: %x, want %x", n, split, got, want)
			}
		}
	}
}

// TestStatesContinue: for every transfer algorithm, a state saved after any prefix and restored
// into a new hash continues to the digest of the whole.
func TestStatesContinue(t *testing.T) {
	t.Parallel()
	data := random(200<<10+5, 4)
	for _, algo := range Transfer() {
		whole := New(algo)
		whole.Write(data)
		want := whole.Sum(nil)
		for _, cut := range []int{0, 1, 1023, 1024, 1025, 5000, 65536, 131072 + 7, len(data)} {
			h := New(algo)
			h.Write(data[:cut])
			st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			r := New(algo)
			if err := r.(encoding.BinaryUnmarshaler).UnmarshalBinary(st); err != nil {
				t.Fatalf("%s: restore after %d bytes: %v", algo, cut, err)
			}
			r.Write(data[cut:])
			if got := r.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("%s: restored after %d bytes: %x, want %x", algo, cut, got, want)
			}
		}
	}
}

func TestBLAKE3BadStates(t *testing.T) {
	t.Parallel()
	h := New(BLAKE3)
	h.Write(random(5000, 5))
	st, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	for _, bad := range [][]byte{nil, []byte("garbage"), st[:len(st)-1], append(bytes.Clone(st), 0),
		append([]byte("myftp-blake3-v2\x00"), st[16:]...)} {
		if err := New(BLAKE3).(encoding.BinaryUnmarshaler).UnmarshalBinary(bad); err == nil {
			t.Errorf("a broken state (%d bytes) was taken", len(bad))
		}
	}
}

func TestKnownDigests(t *testing.T) {
	t.Parallel()
	for algo, want := range map[string]string{
		MD5:    hex.EncodeToString(func() []byte { s := md5.Sum([]byte("abc")); return s[:] }()),
		SHA256: hex.EncodeToString(func() []byte { s := sha256.Sum256([]byte("abc")); return s[:] }()),
		BLAKE3: "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85", // the BLAKE3 paper's test vector
	} {
		h := New(algo)
		h.Write([]byte("abc"))
		if got := hex.EncodeToString(h.Sum(nil)); got != want || !Valid(algo, got) {
			t.Errorf("%s(abc) = %s, want %s", algo, got, want)
		}
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		preferred string
		offered   []string
		want      string
	}{
		{BLAKE3, nil, MD5}, // an old server offers nothing: md5
		{BLAKE3, []string{BLAKE3, SHA256, MD5}, BLAKE3},
		{SHA256, []string{BLAKE3, SHA256, MD5}, SHA256},
		{BLAKE3, []string{SHA256, MD5}, SHA256}, // the best the other end has
		{MD5, []string{BLAKE3, MD5}, MD5},
		{"sha1", []string{"sha1", BLAKE3}, BLAKE3}, // not a transfer algorithm
		{BLAKE3, []string{"crc32"}, MD5},
	} {
		if got := Pick(tc.preferred, tc.offered); got != tc.want {
			t.Errorf("Pick(%q, %q) = %q, want %q", tc.preferred, tc.offered, got, tc.want)
		}
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		algo, sum string
		want      bool
	}{
		{MD5, "0123456789abcdef0123456789abcdef", true},
		{MD5, "0123456789ABCDEF0123456789abcdef", false},
		{BLAKE3, "0123456789abcdef0123456789abcdef", false},
		{BLAKE3, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"nope", "00", false},
	} {
		if got := Valid(tc.algo, tc.sum); got != tc.want {
			t.Errorf("Valid(%s, %s) = %v", tc.algo, tc.sum, got)
		}
	}
}

// TestSizes: Size, which Valid and the uploads' first checks use without making a hash, says
// what each algorithm's hash says, and every algorithm New knows can save its state (resumes
// rely on it); a name it does not know has size 0.
func TestSizes(t *testing.T) {
	for _, algo := range []string{BLAKE3, SHA256, MD5, SHA1, SHA512, CRC32} {
		h := New(algo)
		if h == nil {
			t.Fatalf("New(%q) = nil", algo)
		}
		if got := Size(algo); got != h.Size() {
			t.Errorf("Size(%q) = %d, its hash says %d", algo, got, h.Size())
		}
		if _, ok := h.(encoding.BinaryMarshaler); !ok {
			t.Errorf("%s cannot save its state", algo)
		}
	}
	if Size("whirlpool") != 0 || New("whirlpool") != nil {
		t.Error("an unknown algorithm has a size or a hash")
	}
}

// TestBLAKE3SumThenWrite: Sum leaves the state as it was, also after writes that end on a group
// boundary (whose last group the hash keeps whole): writing on continues to the digest of all.
func TestBLAKE3SumThenWrite(t *testing.T) {
	t.Parallel()
	data := random(96<<10+3, 6)
	for _, cut := range []int{1024, 16 << 10, 32 << 10, 48<<10 + 1} {
		h := New(BLAKE3)
		h.Write(data[:cut])
		if got, want := h.Sum(nil), blake3.Sum256(data[:cut]); !bytes.Equal(got, want[:]) {
			t.Fatalf("blake3 of %d bytes: %x, want %x", cut, got, want)
		}
		h.Write(data[cut:])
		if got, want := h.Sum(nil), blake3.Sum256(data); !bytes.Equal(got, want[:]) {
			t.Fatalf("blake3 after a Sum at %d bytes: %x, want %x", cut, got, want)
		}
	}
}

// TestNewDigestMatchesNew: the digest-only hashes give the digests of New, for every algorithm
// and lengths around the chunk and tree boundaries, written whole or in pieces.
func TestNewDigestMatchesNew(t *testing.T) {
	t.Parallel()
	data := random(70<<10+9, 7)
	for _, algo := range []string{BLAKE3, SHA256, MD5, SHA1, SHA512, CRC32} {
		for _, n := range []int{0, 1, 1023, 1024, 1025, 4096, 16 << 10, 16<<10 + 1, 64 << 10, len(data)} {
			want := New(algo)
			want.Write(data[:n])
			got := NewDigest(algo)
			for rest := data[:n]; len(rest) > 0; rest = rest[min(len(rest), 3000):] {
				got.Write(rest[:min(len(rest), 3000)])
			}
			if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
				t.Fatalf("%s of %d bytes: NewDigest %x, New %x", algo, n, got.Sum(nil), want.Sum(nil))
			}
		}
	}
	if NewDigest("crc64") != nil {
		t.Error("NewDigest made a hash for an unknown name")
	}
}
