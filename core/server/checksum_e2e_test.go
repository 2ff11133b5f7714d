package server_test

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/checksum"
	"github.com/myftp/myftp/lib/proto"
)

// getRaw downloads path over a raw connection with the checksum algo ("" as a client before
// checksum does), and returns the bytes and the final reply.
func getRaw(t *testing.T, c *rawConn, path, algo string) ([]byte, proto.Reply) {
	t.Helper()
	rep := c.do(proto.Request{Op: proto.OpGet, Path: path, Checksum: algo})
	if rep.Code != proto.CodeDataFollows {
		t.Fatalf("get %s with %q: %d %q", path, algo, rep.Code, rep.Msg)
	}
	var data []byte
	for int64(len(data)) < rep.Size {
		f, err := c.r.Next()
		if err != nil || f.Type != proto.TypeData {
			t.Fatalf("get %s: after %d of %d bytes: a %s frame, %v", path, len(data), rep.Size, f.Type, err)
		}
		b, err := io.ReadAll(c.r)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	return data, c.expect(proto.CodeTransferDone, "download successful")
}

// TestChecksumNegotiation: the greeting offers blake3, sha256 and md5, best first; a put and a get
// name one and both sides verify with it, the replies carrying its digests; a client that names
// none (one from before checksum) gets md5 in the fields it reads; sum answers any of them for a
// stored file.
func TestChecksumNegotiation(t *testing.T) {
	t.Parallel()
	e := newXenv(t, servertest.Options{}, 0)
	c := rawLogin(t, e.Addr, xUser, xPass)
	if want := []string{checksum.BLAKE3, checksum.SHA256, checksum.MD5}; !slices.Equal(c.greeting.Checksums, want) {
		t.Errorf("greeting offers %q, want %q", c.greeting.Checksums, want)
	}
	data := randomData(3<<20+17, 70)

	// An unknown algorithm is refused before anything is opened.
	if rep := c.do(proto.Request{Op: proto.OpPut, Path: "a.bin", Size: int64(len(data)), Checksum: "crc32"}); rep.Code != proto.CodeBadArgs ||
		!strings.Contains(rep.Msg, "blake3, sha256, md5") {
		t.Errorf("put with crc32: %d %q, want 501 naming what is offered", rep.Code, rep.Msg)
	}

	// An upload verified with sha256: a done with a digest of another length (an md5) is a 501
	// that leaves the upload open, then the right sha256 stores it.
	if rep := c.do(proto.Request{Op: proto.OpPut, Path: "a.bin", Size: int64(len(data)), Checksum: checksum.SHA256}); rep.Code != proto.CodeSendData ||
		rep.Checksum != checksum.SHA256 {
		t.Fatalf("put with sha256: %+v", rep)
	}
	for i := 0; i < len(data); i += 1 << 20 {
		c.frame(proto.TypeData, data[i:min(i+1<<20, len(data))])
		c.expect(proto.CodeOK, "")
	}
	rep := c.do(proto.Request{Op: proto.OpDone, MD5: md5hex(data)})
	if rep.Code != proto.CodeBadArgs || !strings.Contains(rep.Msg, "sha256") {
		t.Errorf("done with an md5 for a sha256 upload: %d %q, want 501", rep.Code, rep.Msg)
	}
	sha := servertest.Sum(checksum.SHA256, data)
	rep = c.do(proto.Request{Op: proto.OpDone, Sum: sha})
	if rep.Code != proto.CodeTransferDone || rep.Checksum != checksum.SHA256 || rep.Sum != sha || rep.MD5 != "" {
		t.Fatalf("done with the sha256: %+v", rep)
	}
	if got := mustRead(t, e.onServer("a.bin")); string(got) != string(data) {
		t.Fatalf("stored %d bytes that differ from the %d sent", len(got), len(data))
	}

	// Downloads: each algorithm's digest in the 226; md5 also where old clients read it.
	for _, algo := range []string{checksum.BLAKE3, checksum.SHA256, checksum.MD5, ""} {
		got, done := getRaw(t, c, "a.bin", algo)
		name := algo
		if name == "" {
			name = checksum.MD5
		}
		want := servertest.Sum(name, data)
		if string(got) != string(data) || done.Checksum != name || done.Sum != want {
			t.Errorf("get with %q: %d bytes, 226 %s %s; want %s %s", algo, len(got), done.Checksum, done.Sum, name, want)
		}
		if (name == checksum.MD5) != (done.MD5 == want) {
			t.Errorf("get with %q: md5 field %q", algo, done.MD5)
		}
	}

	// A resume with a prefix digest in the algorithm asked for.
	half := int64(len(data) / 2)
	rep = c.do(proto.Request{Op: proto.OpGet, Path: "a.bin", Checksum: checksum.BLAKE3, Offset: half,
		PrefixSum: servertest.Sum(checksum.BLAKE3, data[:half])})
	if rep.Code != proto.CodeDataFollows || rep.Offset != half || rep.Restart != "" {
		t.Fatalf("get resumed with a blake3 prefix: %+v", rep)
	}
	c.conn.Close() // the rest of this download is not needed

	// sum: the digest of a stored file in any of them; a directory or a missing file is a 550.
	c = rawLogin(t, e.Addr, xUser, xPass)
	for _, algo := range []string{checksum.BLAKE3, checksum.SHA256, checksum.MD5} {
		want := servertest.Sum(algo, data)
		if rep := c.do(proto.Request{Op: proto.OpSum, Path: "/a.bin", Checksum: algo}); rep.Code != proto.CodeOK || rep.Checksum != algo || rep.Sum != want {
			t.Errorf("sum with %s: %+v, want %s", algo, rep, want)
		}
	}
	for _, p := range []string{"/", "nosuch"} {
		if rep := c.do(proto.Request{Op: proto.OpSum, Path: p}); rep.Code != proto.CodeUnavailFile {
			t.Errorf("sum of %s: %d %q, want 550", p, rep.Code, rep.Msg)
		}
	}
}
