package server_test

// Crashes: the real myftps killed with SIGKILL, as the kernel's OOM killer or a power cut of the
// process would, in the middle of an upload, of many uploads and of many commits, and restarted on
// the same root. Nothing the user was told is stored may be lost or corrupt, the quota must equal
// what is on disk, and every interrupted upload must resume.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/db"
)

// TestServerKilledMidPut kills the real server process with SIGKILL in the middle of an upload:
// nothing appears under the final name, a restarted server on the same root counts the partial
// upload in the quota exactly as it lies on disk, and the upload resumes where the server stopped.
func TestServerKilledMidPut(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	t.Parallel()
	bin := buildMyftps(t, t.TempDir())
	root := myftpsRoot(t, 32, xUser) // 32: the default pool
	home := filepath.Join(root, "file_upload", xUser)
	local := t.TempDir()
	k := myftpsClients{knownHosts: filepath.Join(t.TempDir(), "known_hosts"), ioTimeout: 30 * time.Second}

	srv := startMyftps(t, bin, root)
	c := loginWith(t, k.config(srv.addr), xUser, myftpsPassword(xUser))
	small := writeFile(t, local, "small.txt", randomData(100<<10, 200), past)
	if _, err := c.Put(context.Background(), small, "", client.Options{}); err != nil {
		t.Fatal(err)
	}
	const size, cut = 12 * MiB, 5 * MiB
	data := randomData(size, 201)
	src := writeFile(t, local, "big.bin", data, past)
	var once sync.Once
	_, err := c.Put(context.Background(), src, "", client.Options{Progress: func(done, _ int64) {
		if done < cut {
			return
		}
		once.Do(func() {
			if !servertest.WaitFor(20*time.Second, func() bool { p := partials(t, home); return len(p) == 1 && only(p) >= done }) {
				t.Errorf("the server never stored %d bytes: %v", done, partials(t, home))
			}
			mustNotExist(t, filepath.Join(home, "big.bin"))
			srv.cmd.Process.Signal(syscall.SIGKILL)
		})
	}})
	if err == nil {
		t.Fatal("the put survived the server's death")
	}
	srv.killed(t)
	mustNotExist(t, filepath.Join(home, "big.bin"))
	if p := partials(t, home); len(p) != 1 || only(p) != cut {
		t.Fatalf("partial uploads after the kill: %v, want one of %d bytes", p, cut)
	}

	srv = startMyftps(t, bin, root)
	c = loginWith(t, k.config(srv.addr), xUser, myftpsPassword(xUser))
	used, _, err := c.Quota()
	if disk := diskUsage(t, home); err != nil || used != disk || used != 100<<10+cut {
		t.Errorf("after the restart: used %d (%v), on disk %d; want %d", used, err, disk, 100<<10+cut)
	}
	res, err := c.Put(context.Background(), src, "", client.Options{})
	if err != nil {
		t.Fatalf("put after the restart: %v\n%s", err, srv.log())
	}
	if res.Offset != cut || res.Sent() != size-cut || res.Sum != servertest.Sum(res.Checksum, data) {
		t.Errorf("resumed put: %+v, want offset %d and md5 %s", res, cut, md5hex(data))
	}
	sameBytes(t, "server copy", mustRead(t, filepath.Join(home, "big.bin")), data)
	if used, _, err := c.Quota(); err != nil || used != diskUsage(t, home) || used != 100<<10+size {
		t.Errorf("after the resumed put: used %d (%v), on disk %d; want %d", used, err, diskUsage(t, home), 100<<10+size)
	}
	c.Close()
	srv.cmd.Process.Signal(os.Interrupt)
	if err := srv.cmd.Wait(); err != nil {
		t.Errorf("graceful stop: %v\n%s", err, srv.log())
	}
}

// TestKillServer kills the real myftps with SIGKILL, as the kernel's OOM killer or a power cut of
// the process would, and restarts it on the same root.
func TestKillServer(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL is a Unix signal")
	}
	t.Parallel()
	bin := buildMyftps(t, t.TempDir())
	t.Run("mid uploads", func(t *testing.T) { t.Parallel(); relKillMidUploads(t, bin) })
	t.Run("mid commits", func(t *testing.T) { t.Parallel(); relKillMidCommits(t, bin) })
}

// relSource is a local file and where it goes.
type relSource struct {
	user, local, remote, md5 string
	size                     int64
}

// relCheckRoot checks what a root holds after a crash, with a server running on it again: every
// file under a final name is complete (its md5 is its source's; a name without a source is an
// error), every account record parses, and each account's quota equals its home's disk use. It
// returns the remote names stored per user.
func relCheckRoot(t *testing.T, root string, k myftpsClients, addr string, users []string, sources map[string]relSource) map[string]bool {
	t.Helper()
	stored := map[string]bool{}
	for _, u := range users {
		home := filepath.Join(root, "file_upload", u)
		err := filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == ".myftp" {
				return filepath.SkipDir
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(home, p)
			key := u + "/" + filepath.ToSlash(rel)
			src, ok := sources[key]
			b, rerr := os.ReadFile(p)
			switch {
			case !ok:
				t.Errorf("%s: a file no client sent", key)
			case rerr != nil || md5hex(b) != src.md5:
				t.Errorf("%s: %d bytes, md5 %s (%v); want %d bytes, md5 %s: a partial or corrupt file under a final name",
					key, len(b), md5hex(b), rerr, src.size, src.md5)
			default:
				stored[key] = true
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		c := loginWith(t, k.config(addr), u, myftpsPassword(u))
		usageIsDisk(t, u, c, home)
		c.Close()
	}
	accounts, err := db.Open(filepath.Join(root, "db"))
	if err != nil {
		t.Fatal(err)
	}
	probs, err := accounts.Check()
	if err != nil || len(probs) > 0 {
		t.Errorf("account database after the crash: %v, %v", probs, err)
	}
	return stored
}

// relKillMidUploads: 50 clients (MYFTP_LONG=1: 100) of five accounts upload files of 1 to 4 MiB at
// once. When the clients have sent half of all the bytes, and the server's disk holds half of them
// (the rest is in the sockets' buffers) with most unfinished uploads holding some, the server is
// killed. After a restart nothing under a final name is partial or corrupt, the database is sound
// and quotas equal the disk; every interrupted upload resumes exactly from what its partial file
// holds to a correct file.
func relKillMidUploads(t *testing.T, bin string) {
	clients := 50
	if longTests() {
		clients = 100
	}
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	root := myftpsRoot(t, clients+16, users...) // every client is served at once, with room for the checks
	k := myftpsClients{knownHosts: filepath.Join(t.TempDir(), "known_hosts"), ioTimeout: time.Minute}
	local := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	sources := map[string]relSource{}
	var list []relSource
	var total int64
	for i := range clients {
		size := 1<<20 + rng.IntN(3<<20)
		data := randomData(size, uint64(100+i))
		s := relSource{user: users[i%len(users)], remote: fmt.Sprintf("f%03d.bin", i), md5: md5hex(data), size: int64(size)}
		s.local = writeFile(t, local, s.remote, data, past)
		sources[s.user+"/"+s.remote] = s
		list = append(list, s)
		total += s.size
	}

	srv := startMyftps(t, bin, root)
	sessions := make([]*client.Client, clients)
	for i, s := range list {
		sessions[i] = loginWith(t, k.config(srv.addr), s.user, myftpsPassword(s.user))
	}
	var sent, stored atomic.Int64
	var triggered atomic.Bool
	killed := make(chan struct{})
	killWhenStored := func() { // on a goroutine of its own: the uploads go on meanwhile
		defer close(killed)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			bytes, started, finished := relStoredBytes(root, users)
			stored.Store(bytes)
			if bytes >= total/2 && started*4 >= (clients-finished)*3 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		srv.cmd.Process.Signal(syscall.SIGKILL)
	}
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for i, s := range list {
		wg.Go(func() {
			var last int64
			_, errs[i] = sessions[i].Put(context.Background(), s.local, s.remote, client.Options{Progress: func(done, _ int64) {
				if sent.Add(done-last) >= total/2 && triggered.CompareAndSwap(false, true) {
					go killWhenStored()
				}
				last = done
			}})
		})
	}
	wg.Wait()
	if !triggered.Load() {
		t.Fatal("every upload finished before the server was killed")
	}
	<-killed
	srv.killed(t)

	held := map[string]int64{} // what each interrupted upload's partial file holds
	for _, u := range users {
		for target, size := range relPartialTargets(t, filepath.Join(root, "file_upload", u)) {
			held[u+"/"+target] = size
		}
	}
	srv = startMyftps(t, bin, root)
	done := relCheckRoot(t, root, k, srv.addr, users, sources)
	var interrupted, acknowledged, holding int
	for i, s := range list {
		key := s.user + "/" + s.remote
		switch {
		case errs[i] == nil:
			acknowledged++
			if !done[key] {
				t.Errorf("%s: the client was told it is stored, but it is not", key)
			}
		case !done[key]:
			interrupted++
			if held[key] > 0 {
				holding++
			}
		}
	}
	t.Logf("killed with %d of %d MiB sent and %d MiB on the server's disk: %d uploads acknowledged, %d stored but not acknowledged, %d interrupted (%d of them with data kept)",
		sent.Load()>>20, total>>20, stored.Load()>>20, acknowledged, len(done)-acknowledged, interrupted, holding)
	if holding*2 <= interrupted {
		t.Errorf("only %d of %d interrupted uploads kept data for a resume", holding, interrupted)
	}

	var resumed atomic.Int64
	for i, s := range list {
		key := s.user + "/" + s.remote
		if errs[i] == nil || done[key] {
			continue
		}
		wg.Go(func() {
			c, err := openSession(t, k.config(srv.addr), s.user, myftpsPassword(s.user))
			var res client.Result
			if err == nil {
				res, err = c.Put(context.Background(), s.local, s.remote, client.Options{})
				c.Close()
			}
			switch {
			case err != nil:
				t.Errorf("%s: put after the restart: %v", key, err)
			case res.Offset != held[key] || res.Sum != servertest.Sum(res.Checksum, mustRead(t, s.local)):
				t.Errorf("%s: put after the restart started at byte %d (%q), %s %s; want byte %d, what the server kept, and the source's",
					key, res.Offset, res.Restart, res.Checksum, res.Sum, held[key])
			case res.Offset > 0:
				resumed.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d interrupted uploads resumed", resumed.Load(), interrupted)
	done = relCheckRoot(t, root, k, srv.addr, users, sources)
	if len(done) != clients {
		t.Errorf("%d files stored after the resumes, want %d", len(done), clients)
	}
	for _, u := range users {
		if p := partials(t, filepath.Join(root, "file_upload", u)); len(p) != 0 {
			t.Errorf("%s: partial uploads left after every upload finished: %v", u, p)
		}
	}
}

// relStoredBytes adds up the bytes of the given accounts' homes on disk (files and partial
// uploads), and counts the partial uploads that hold data and the finished files. It runs while
// the server writes, so files may come and go.
func relStoredBytes(root string, users []string) (bytes int64, started, finished int) {
	for _, u := range users {
		filepath.WalkDir(filepath.Join(root, "file_upload", u), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || strings.HasSuffix(p, ".json") {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			bytes += fi.Size()
			switch slash := filepath.ToSlash(p); {
			case !strings.Contains(slash, "/.myftp/"):
				finished++
			case strings.Contains(slash, "/.myftp/partial/") && fi.Size() > 0:
				started++ // not .myftp/id, which every home has
			}
			return nil
		})
	}
	return bytes, started, finished
}

// relPartialTargets returns, for each partial upload of home, its target (relative to the home)
// and the bytes its data file holds. A description whose data file is gone (the kill fell between
// the two files' creation or removal) describes nothing: the server expires it.
func relPartialTargets(t testing.TB, home string) map[string]int64 {
	t.Helper()
	dir := filepath.Join(home, ".myftp", "partial")
	metas, err := filepath.Glob(filepath.Join(home, ".myftp", "meta", "partial", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]int64{}
	for _, m := range metas {
		var meta struct{ Path string }
		b, err := os.ReadFile(m)
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		fi, serr := os.Stat(filepath.Join(dir, strings.TrimSuffix(filepath.Base(m), ".json")))
		if errors.Is(serr, fs.ErrNotExist) {
			continue
		}
		if err != nil || serr != nil {
			t.Errorf("partial upload %s: %v, %v", m, err, serr)
			continue
		}
		held[meta.Path] = fi.Size()
	}
	return held
}

// relKillMidCommits: four sessions upload batches of small files (pipelined, so most of the
// server's time goes to committing: fsync, rename, md5 record) until the server is killed after
// 200 files were acknowledged. After a restart the same holds as after a kill mid-upload, and
// every file uploads again to a correct copy.
func relKillMidCommits(t *testing.T, bin string) {
	users := []string{"c0", "c1"}
	root := myftpsRoot(t, 32, users...)
	k := myftpsClients{knownHosts: filepath.Join(t.TempDir(), "known_hosts"), ioTimeout: time.Minute}
	local := t.TempDir()
	srv := startMyftps(t, bin, root)

	var mu sync.Mutex
	sources := map[string]relSource{}
	var acked atomic.Int64
	var kill sync.Once
	var wg sync.WaitGroup
	for w := range 4 {
		user := users[w%len(users)]
		c := loginWith(t, k.config(srv.addr), user, myftpsPassword(user))
		wg.Go(func() {
			for batch := 0; batch < 200; batch++ {
				items, err := relSmallBatch(local, user, w, batch, &mu, sources)
				if err != nil {
					t.Error(err)
					return
				}
				err = c.PutMany(context.Background(), items, client.Options{}, func(_ int, _ client.Result, err error) {
					if err == nil && acked.Add(1) >= 200 {
						kill.Do(func() { srv.cmd.Process.Signal(syscall.SIGKILL) })
					}
				})
				if c.Err() != nil {
					return // the server is gone
				}
				if err != nil {
					t.Errorf("batch before the kill: %v", err)
					return
				}
			}
			t.Error("the server was never killed")
		})
	}
	wg.Wait()
	srv.killed(t)
	t.Logf("killed after %d small files were acknowledged, %d sent", acked.Load(), len(sources))

	srv = startMyftps(t, bin, root)
	stored := relCheckRoot(t, root, k, srv.addr, users, sources)
	for _, u := range users {
		var items []client.Item
		for key, s := range sources {
			if s.user == u && !stored[key] {
				items = append(items, client.Item{Local: s.local, Remote: s.remote})
			}
		}
		c := loginWith(t, k.config(srv.addr), u, myftpsPassword(u))
		if err := c.PutMany(context.Background(), items, client.Options{}, nil); err != nil {
			t.Errorf("%s: uploading the %d missing files after the restart: %v", u, len(items), err)
		}
		c.Close()
	}
	if stored = relCheckRoot(t, root, k, srv.addr, users, sources); len(stored) != len(sources) {
		t.Errorf("%d files stored after the second round, want %d", len(stored), len(sources))
	}
}

// relSmallBatch writes the 25 local files of one batch (1 to 16 KiB each) and records them. It runs
// on the uploading goroutines.
func relSmallBatch(local, user string, w, batch int, mu *sync.Mutex, sources map[string]relSource) ([]client.Item, error) {
	var items []client.Item
	rng := rand.New(rand.NewPCG(uint64(w), uint64(batch)))
	for i := range 25 {
		name := fmt.Sprintf("w%d-b%03d-%02d.bin", w, batch, i)
		data := randomData(1<<10+rng.IntN(15<<10), uint64(w)<<32|uint64(batch)<<8|uint64(i))
		s := relSource{user: user, local: filepath.Join(local, name), remote: name, md5: md5hex(data), size: int64(len(data))}
		if err := os.WriteFile(s.local, data, 0o644); err != nil {
			return nil, err
		}
		mu.Lock()
		sources[user+"/"+name] = s
		mu.Unlock()
		items = append(items, client.Item{Local: s.local, Remote: name})
	}
	return items, nil
}
