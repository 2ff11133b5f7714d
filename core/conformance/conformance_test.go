package conformance_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/myftp/myftp/core/server/servertest"
)

// A promise is one row of the table: what every door keeps on every backend. Each cell runs on
// a server of its own, unless the row has a setup: then its cells share one server per backend,
// which setup prepares (for what is costly to make, and only read by the cells). Cells that a
// door or a backend cannot express say so in notApplicable, keyed "door" or "door/backend", with
// the reason; run is not called for them.
type promise struct {
	name          string
	setup         func(e *env)
	run           func(c *cell)
	notApplicable map[string]string
}

var promises = []promise{
	{name: "jail", run: testJail},
	{name: "cut-upload-invisible-then-resumed", run: testCutUpload},
	{name: "download-resumed", run: testResumeDownload},
	{name: "quota", run: testQuota},
	{name: "rename", run: testRename},
	{name: "listing", setup: plantListing, run: testListing},
}

// cell is one promise tried through one door on one backend, on a server of its own.
type cell struct {
	*testing.T
	e     *env
	door  door
	b     backend
	local string // the client's directory
}

// session opens a session of the account through the cell's door.
func (c *cell) session(user string) session { return c.door.open(c.T, c.e, user, c.local) }

// TestStoragePromises runs every promise through every door on every backend: the table of rows
// (promises), columns (doors) and backends, each cell on a server of its own, in parallel.
func TestStoragePromises(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, p := range promises {
				t.Run(p.name, func(t *testing.T) {
					t.Parallel()
					var shared *env
					if p.setup != nil {
						shared = newEnv(t, b)
						p.setup(shared)
					}
					for _, d := range doors {
						t.Run(d.name, func(t *testing.T) {
							if why := notApplicable(p, d, b); why != "" {
								t.Skipf("not applicable: %s", why)
							}
							t.Parallel()
							e := shared
							if e == nil {
								e = newEnv(t, b)
							}
							p.run(&cell{T: t, e: e, door: d, b: b, local: t.TempDir()})
						})
					}
				})
			}
		})
	}
}

func notApplicable(p promise, d door, b backend) string {
	if why := p.notApplicable[d.name+"/"+b.name]; why != "" {
		return why
	}
	return p.notApplicable[d.name]
}

// unit is how much of a cut upload the backend keeps for a resume at least: a byte on the local
// disk, whose partial files keep everything written (the suite waits for 256 KiB), a whole part
// on S3.
func (c *cell) unit() int64 { return max(c.e.store.Caps().ResumeUnit, 256<<10) }

// testCutUpload: an upload cut mid-way (the client killed, or cancelled) shows nothing under its
// name, neither while it runs nor after, in a listing through the door or in the store; the
// server keeps what it received (whole parts on S3) as an unfinished upload, counted in the
// usage; the door's resume (native put, curl -C - -T, sftp reput) sends only the rest, and the
// file is byte-identical.
func testCutUpload(c *cell) {
	c.e.user("u", 0)
	data := randomBytes(1, int(2*c.unit()+1<<20+123))
	writeLocal(c, "big.bin", data)
	s := c.session("u")
	must(c, s.mkdir("d"))
	notListed := func(when string) {
		names, err := s.list("d")
		must(c, err)
		if len(names) != 0 {
			c.Errorf("%s, the door lists %q; want nothing", when, names)
		}
	}
	held := func() bool { return c.e.PartialBytes("u") >= c.unit() }
	// Slowed down to take about 2.5 s, where the client can be (curl, sftp), so that it can be
	// cut after the server holds a part and a listing runs.
	s.putCut("big.bin", "d/big.bin", int64(len(data))*2/5, held, func() { notListed("while the upload runs") })
	lines := c.e.waitXfer("u", 1)
	if last := lines[len(lines)-1]; last[11] != "i" || last[17] != "i" {
		c.Fatalf("the cut upload is logged as %q, want an incomplete upload", last)
	}
	notListed("after the cut")
	if c.e.holds("u", "d/big.bin") {
		c.Fatal("the store has the cut upload under its name")
	}
	kept := c.e.PartialBytes("u")
	if kept < c.unit() || kept >= int64(len(data)) {
		c.Fatalf("the server keeps %d bytes of the cut upload of %d; want at least %d", kept, len(data), c.unit())
	}
	wantUsage(c, kept)

	must(c, s.reput("big.bin", "d/big.bin"))
	lines = c.e.waitXfer("u", 2)
	if sent, _ := strconv.ParseInt(lines[1][7], 10, 64); lines[1][17] != "c" || sent != int64(len(data))-kept {
		c.Errorf("the resumed upload is logged as %q; want complete, %d bytes sent", lines[1], int64(len(data))-kept)
	}
	must(c, s.get("d/big.bin", "back.bin"))
	sameBytes(c, "the resumed upload, downloaded", readLocal(c, "back.bin"), data)
	if n := c.e.PartialBytes("u"); n != 0 {
		c.Errorf("%d bytes left in unfinished uploads", n)
	}
	wantUsage(c, int64(len(data)))
}

// testResumeDownload: a download continued from the first bytes a cut one left (native get
// resume, curl -C -, sftp reget) reads the rest from the right offset (a ranged GET on S3) and
// ends byte-identical.
func testResumeDownload(c *cell) {
	c.e.user("u", 0)
	data := randomBytes(2, 3<<20+4321)
	c.e.plant("u", map[string][]byte{"d/big.bin": data})
	prefix := data[:1<<20+77]
	s := c.session("u")
	must(c, s.reget("d/big.bin", "big.bin", prefix))
	sameBytes(c, "the resumed download", readLocal(c, "big.bin"), data)
	lines := c.e.waitXfer("u", 1)
	if sent, _ := strconv.ParseInt(lines[0][7], 10, 64); lines[0][11] != "o" || lines[0][17] != "c" || sent != int64(len(data)-len(prefix)) {
		c.Errorf("the resumed download is logged as %q; want complete, %d bytes sent", lines[0], len(data)-len(prefix))
	}
}

// testQuota: an upload that passes the quota is refused with the door's quota answer, which the
// client shows although it still had most of the file to send, and leaves nothing, neither a
// file nor an unfinished upload; the usage is then what the home holds, and a file that fits is
// still stored.
func testQuota(c *cell) {
	c.e.user("u", 1<<20)
	old := randomBytes(3, 300<<10)
	c.e.plant("u", map[string][]byte{"old.bin": old})
	writeLocal(c, "big.bin", randomBytes(4, 8<<20)) // well beyond what the socket buffers hold
	fits := randomBytes(5, 700<<10)
	writeLocal(c, "fits.bin", fits)
	s := c.session("u")
	err := s.put("big.bin", "big.bin")
	if err == nil || !strings.Contains(err.Error(), c.door.quota) {
		c.Fatalf("an upload past the quota: %v; want the door's quota answer %q", err, c.door.quota)
	}
	if c.e.holds("u", "big.bin") {
		c.Error("the refused upload is in the store")
	}
	if n := c.e.PartialBytes("u"); n != 0 {
		c.Errorf("the refused upload left %d bytes in unfinished uploads", n)
	}
	wantUsage(c, int64(len(old)))
	must(c, s.put("fits.bin", "fits.bin"))
	wantUsage(c, int64(len(old)+len(fits)))
}

// wantUsage checks that the server counts want bytes for the account u, as a server started
// afresh on the same store measures.
func wantUsage(c *cell, want int64) {
	c.Helper()
	if counted, measured := c.e.Usage("u"); counted != want || measured != want {
		c.Errorf("usage: the server counts %d, a fresh measure %d; want %d", counted, measured, want)
	}
}

// testRename: a file and a directory are renamed through the door and keep their content; a
// directory of more entries than the backend renames in one step (S3's max_rename_objects,
// 50 in the tests) is refused with a clear error and nothing moves, where the local disk, which
// renames in one step, moves it whole.
func testRename(c *cell) {
	c.e.user("u", 0)
	limit := c.e.store.Caps().MaxRenameObjects
	many := map[string][]byte{"d/in.txt": []byte("in d")}
	for i := range max(limit, 50) + 1 {
		many[fmt.Sprintf("many/f%03d", i)] = []byte{byte(i)}
	}
	c.e.plant("u", many)
	data := randomBytes(6, 100<<10)
	writeLocal(c, "a.bin", data)
	s := c.session("u")
	must(c, s.put("a.bin", "a.bin"))
	must(c, s.rename("a.bin", "b.bin"))
	must(c, s.rename("d", "e"))
	must(c, s.get("b.bin", "b.bin"))
	sameBytes(c, "the renamed file", readLocal(c, "b.bin"), data)
	must(c, s.get("e/in.txt", "in.txt"))
	sameBytes(c, "a file of the renamed directory", readLocal(c, "in.txt"), []byte("in d"))
	wantNames(c, s, "", "b.bin", "e", "many")

	err := s.rename("many", "many2")
	switch {
	case limit == 0 && err != nil:
		c.Errorf("rename of a directory of %d entries: %v", len(many)-1, err)
	case limit > 0 && (err == nil || !strings.Contains(err.Error(), c.door.tooMany)):
		c.Errorf("rename of a directory of %d entries, over the limit of %d: %v; want %q", len(many)-1, limit, err, c.door.tooMany)
	}
	kept, moved := "many", "many2"
	if limit == 0 {
		kept, moved = moved, kept
	}
	if names, err := s.list(kept); err != nil || len(names) != len(many)-1 {
		c.Errorf("%s after the rename: %d entries, %v; want %d", kept, len(names), err, len(many)-1)
	}
	if c.e.holds("u", moved) {
		c.Errorf("%s exists after the rename", moved)
	}
}

// listed is how many entries testListing lists: 2,000, or 100,000 with MYFTP_STORAGE_BIG=1.
func listed() int {
	if os.Getenv("MYFTP_STORAGE_BIG") == "1" {
		return 100_000
	}
	return 2000
}

// plantListing makes the account u, whose directory big holds listed() entries: empty files,
// and every other one a directory (on S3, keys and common prefixes: listed apart, paged together).
func plantListing(e *env) {
	e.user("u", 0)
	files := map[string][]byte{}
	for i := range listed() {
		name := fmt.Sprintf("big/f%06d", i)
		if i%2 == 1 {
			name += "/"
		}
		files[name] = nil
	}
	e.plant("u", files)
}

// testListing: a directory of many entries is listed whole through the door, each name once:
// the server streams it a page at a time.
func testListing(c *cell) {
	names, err := c.session("u").list("big")
	must(c, err)
	slices.Sort(names)
	want := make([]string, listed())
	for i := range want {
		want[i] = fmt.Sprintf("f%06d", i)
	}
	if !slices.Equal(names, want) {
		c.Errorf("the listing has %d names (first %q), want the %d planted", len(names), names[:min(3, len(names))], len(want))
	}
}

// wantNames fails the test unless the door lists exactly names in dir.
func wantNames(c *cell, s session, dir string, names ...string) {
	c.Helper()
	got, err := s.list(dir)
	must(c, err)
	slices.Sort(got)
	if !slices.Equal(got, names) {
		c.Errorf("listing of %q: %q, want %q", dir, got, names)
	}
}

// randomBytes returns n bytes that depend only on seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), 0xc0})
	b := make([]byte, n)
	r.Read(b)
	return b
}

func writeLocal(c *cell, name string, data []byte) {
	c.Helper()
	must(c, os.WriteFile(filepath.Join(c.local, name), data, 0o600))
}

func readLocal(c *cell, name string) []byte {
	c.Helper()
	data, err := os.ReadFile(filepath.Join(c.local, name))
	must(c, err)
	return data
}

// sameBytes fails the test unless got is want.
func sameBytes(c *cell, what string, got, want []byte) {
	c.Helper()
	if !bytes.Equal(got, want) {
		c.Errorf("%s: %d bytes, sha256 %.16s; want %d bytes, sha256 %.16s", what, len(got),
			servertest.Sum("sha256", got), len(want), servertest.Sum("sha256", want))
	}
}
