package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/myftp/myftp/lib/bytesize"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/pgdb/pgtest"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// The whole-program benchmarks run the real binaries as separate processes, the way users run
// them: myftps on a fresh root, and one myftpc process per measured command, connect and login
// (TLS, argon2id at the default cost) included. They are what the performance targets are about;
// the in-process benchmarks of core/server are for profiling. Run them all with
//
//	MYFTP_BENCH_DIR=/dev/shm go test -run '^$' -bench Whole -benchtime 3x ./core/serve
//
// MYFTP_BENCH_DIR holds the server's root and the client's files (default: a temporary directory,
// which is the real disk here); MYFTP_BENCH_SIZE is the size of the single-file transfers
// (default 64MiB; the targets are for 1GiB), MYFTP_BENCH_FILES the number of small files (1000),
// MYFTP_BENCH_CONC_SIZE the size of each of the 32 concurrent uploads (8MiB; 32MiB for the
// targets), MYFTP_BENCH_FSYNC=0 turns fsync off, MYFTP_BENCH_STORAGE=s3 keeps the homes in a
// bucket of the test S3 server (package s3test; MYFTP_BENCH_S3_PART sets the part size), and
// MYFTP_BENCH_ACCOUNTS=postgres the accounts in a database of the test PostgreSQL (package pgtest).
// MYFTP_CPUPROFILE, MYFTP_MEMPROFILE and MYFTP_TRACE, if set, are passed to both programs (the
// server's profile gets the suffix ".server", the client's ".client", and under WholeConcurrentPut each
// client's ".client00" to ".client31"), so each side of a real transfer can be profiled.
// MYFTP_BENCH_BIN runs the programs of that directory instead of building them.

var wholeBin struct {
	once sync.Once
	dir  string
	err  error
}

// binaries builds myftps, myftpc and create_user once per run of the test binary, into a
// directory TestMain removes: for the whole-program benchmarks and the tests that run the
// programs as processes of their own (TestCluster). MYFTP_BENCH_BIN names a directory of those
// programs built beforehand instead (to compare two builds with the same benchmark code).
func binaries(tb testing.TB) string {
	if dir := os.Getenv("MYFTP_BENCH_BIN"); dir != "" {
		return dir
	}
	wholeBin.once.Do(func() {
		wholeBin.dir, wholeBin.err = os.MkdirTemp("", "myftp-whole-bin-")
		if wholeBin.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", wholeBin.dir+string(filepath.Separator), "github.com/myftp/myftp/bin/...").CombinedOutput()
		if err != nil {
			wholeBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if wholeBin.err != nil {
		tb.Fatal(wholeBin.err)
	}
	return wholeBin.dir
}

func benchEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func benchSize(b *testing.B, name, def string) int64 {
	n, err := bytesize.Parse(benchEnv(name, def))
	if err != nil {
		b.Fatalf("%s: %v", name, err)
	}
	return n
}

// whole is a running myftps and what a myftpc needs to reach it.
type whole struct {
	bin, root, addr, known string
	doors                  map[string]string // the addresses of the extra doors, by name
	srv                    *exec.Cmd
}

// extraDoor is a door to turn on besides the native one: its name, which starts its "listening
// on" line ("ftp"), and its settings section.
type extraDoor struct{ name, settings string }

// startWhole starts myftps on a fresh root under MYFTP_BENCH_DIR, with one account "bench" and
// the doors extra turned on, and records its certificate for the clients.
func startWhole(b *testing.B, extra ...extraDoor) *whole {
	b.Helper()
	bin := binaries(b)
	base := os.Getenv("MYFTP_BENCH_DIR")
	if base == "" {
		base = b.TempDir()
	}
	root, err := os.MkdirTemp(base, "myftp-whole-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(root) })
	must(b, os.Mkdir(filepath.Join(root, "conf"), 0o700))
	fsync := benchEnv("MYFTP_BENCH_FSYNC", "1") != "0"
	settings := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\npool_size = 700\nqueue_size = 256\n\n[limits]\nmax_per_address = 0\n"+
		"max_startups = 0\nmax_startups_per_address = 0\nmax_sessions_per_account = 0\n\n[storage]\nfsync = %v\n", fsync)
	env := profileEnv(".server")
	if benchEnv("MYFTP_BENCH_STORAGE", "local") == "s3" {
		o := s3test.Bucket(b)
		settings += fmt.Sprintf("backend = \"s3\"\n\n[storage.s3]\nendpoint = %q\nbucket = %q\npath_style = true\npart_size = %q\n",
			o.Endpoint, o.Bucket, benchEnv("MYFTP_BENCH_S3_PART", "16MiB"))
		env = append(env, "AWS_ACCESS_KEY_ID="+os.Getenv(s3test.EnvAccess), "AWS_SECRET_ACCESS_KEY="+os.Getenv(s3test.EnvSecret))
	}
	if benchEnv("MYFTP_BENCH_ACCOUNTS", "files") == "postgres" {
		settings += fmt.Sprintf("\n[accounts]\nbackend = \"postgres\"\ndsn = %q\n", pgtest.Database(b))
	}
	for _, d := range extra {
		settings += "\n" + d.settings
	}
	must(b, os.WriteFile(filepath.Join(root, "conf", "settings.toml"), []byte(settings), 0o600))
	cu := exec.Command(filepath.Join(bin, "create_user"), "--root", root, "--account", "bench", "--quota", "1TiB", "--password-stdin")
	cu.Stdin = strings.NewReader("bench-password\n")
	if out, err := cu.CombinedOutput(); err != nil {
		b.Fatalf("create_user: %v\n%s", err, out)
	}
	w := &whole{bin: bin, root: root, known: filepath.Join(root, "known_hosts"), doors: map[string]string{}}
	w.srv = exec.Command(filepath.Join(bin, "myftps"), "--root", root)
	w.srv.Env = env
	stderr, err := os.Create(filepath.Join(root, "myftps.stderr"))
	must(b, err)
	defer stderr.Close() // the server has its own copy
	w.srv.Stderr = stderr
	stdout, err := w.srv.StdoutPipe()
	must(b, err)
	must(b, w.srv.Start())
	b.Cleanup(func() {
		w.srv.Process.Signal(os.Interrupt)
		w.srv.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for len(w.doors) < len(extra)+1 && sc.Scan() { // "listening on A", then "ftp listening on A"...
		if name, addr, ok := strings.Cut(sc.Text(), "listening on "); ok {
			w.doors[strings.TrimSpace(name)] = addr
		}
	}
	w.addr = w.doors[""]
	delete(w.doors, "")
	if w.addr == "" {
		b.Fatal("myftps did not say where it listens")
	}
	for _, d := range extra {
		if w.doors[d.name] == "" {
			b.Fatalf("myftps did not say where its %s door listens", d.name)
		}
	}
	go func() { // keep reading, or the server blocks on a full pipe
		for sc.Scan() {
		}
	}()
	w.myftpc(b, root, "pwd", "--trust-new")
	return w
}

// profileEnv is the environment of a program under benchmark: profiles asked for get suffix.
func profileEnv(suffix string) []string {
	env := os.Environ()
	for _, v := range []string{"MYFTP_CPUPROFILE", "MYFTP_MEMPROFILE", "MYFTP_TRACE"} {
		if f := os.Getenv(v); f != "" {
			env = append(env, v+"="+f+suffix)
		}
	}
	return env
}

// myftpc runs one myftpc process in dir with the commands cmds and returns how long it took,
// from start to exit: connect and login included.
func (w *whole) myftpc(b *testing.B, dir, cmds string, flags ...string) time.Duration {
	b.Helper()
	took, _ := w.myftpcAs(b, ".client", dir, cmds, flags...)
	return took
}

// myftpcAs is myftpc with the suffix of the client's profiles, and also returns the CPU time the
// process used.
func (w *whole) myftpcAs(b *testing.B, suffix, dir, cmds string, flags ...string) (took, cpu time.Duration) {
	b.Helper()
	args := append([]string{"--root", w.root, "--known-hosts", w.known, "-u", "bench", "-c", cmds}, flags...)
	cmd := exec.Command(filepath.Join(w.bin, "myftpc"), append(args, w.addr)...)
	cmd.Dir = dir
	cmd.Env = append(profileEnv(suffix), "MYFTP_PASSWORD=bench-password")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took = time.Since(start)
	if err != nil {
		b.Fatalf("myftpc -c %q: %v\n%s\nmyftps's standard error ends with:\n%s", cmds, err, out.String(), w.serverTail())
	}
	return took, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// serverTail returns the end of what myftps wrote to its standard error: why it stopped, if it
// did (a panic, say), and the last lines of its log.
func (w *whole) serverTail() string {
	data, err := os.ReadFile(filepath.Join(w.root, "myftps.stderr"))
	if err != nil {
		return err.Error()
	}
	return string(data[max(0, len(data)-4000):])
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// randomFile writes n random bytes to p.
func randomFile(b *testing.B, p string, n int64, seed uint64) {
	b.Helper()
	f, err := os.Create(p)
	must(b, err)
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, seed))
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		k := min(int64(len(buf)), left)
		for i := range buf[:k] {
			buf[i] = byte(rng.Uint32())
		}
		_, err := f.Write(buf[:k])
		must(b, err)
		left -= k
	}
}

// benchTarget is a server under a whole-program benchmark, as the shared loops (benchPutBig,
// benchGetBig, benchPutSmall, benchGetSmall) see it: myftps (*whole), or a peer (vsftpd).
type benchTarget interface {
	// workDir returns a new directory for the client's files, removed when the benchmark ends.
	workDir(b *testing.B) string
	// seed stores the client's file dir/name on the server under the same name, untimed.
	seed(b *testing.B, dir, name string)
	// remove removes the file name that a timed run stored on the server, untimed.
	remove(b *testing.B, dir, name string)
	// cpu returns the CPU time the server has used so far, all its processes included.
	cpu(b *testing.B) time.Duration
}

// workDir returns a new directory for the client's files, beside the server's root.
func (w *whole) workDir(b *testing.B) string {
	d, err := os.MkdirTemp(filepath.Dir(w.root), "myftp-whole-client-")
	must(b, err)
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// report sets the benchmark's time per operation to the median of the measured runs (a run on
// cold memory, the first touch of pages this VM gives slowly, does not drag the figure), and
// reports MB/s or files/s at that median, as the targets are stated.
func report(b *testing.B, runs []time.Duration, bytes, files int64) {
	if len(runs) == 0 {
		return
	}
	sorted := slices.Clone(runs)
	slices.Sort(sorted)
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + med) / 2
	}
	b.ReportMetric(float64(med.Nanoseconds()), "ns/op")
	if bytes > 0 {
		b.ReportMetric(float64(bytes)/1e6/med.Seconds(), "MB/s")
	}
	if files > 0 {
		b.ReportMetric(float64(files)/med.Seconds(), "files/s")
	}
}

// seed stores dir/name with myftpc.
func (w *whole) seed(b *testing.B, dir, name string) { w.myftpc(b, dir, "put "+name) }

// remove removes name with myftpc, which also drops its checksum record.
func (w *whole) remove(b *testing.B, dir, name string) { w.myftpc(b, dir, "rm "+name) }

// cpu is myftps's CPU time: one process.
func (w *whole) cpu(b *testing.B) time.Duration { return procCPU(b, w.srv.Process.Pid) }

func BenchmarkWholePut(b *testing.B) {
	w := startWhole(b)
	benchPutBig(b, w, func(dir, name string) time.Duration {
		return w.myftpc(b, dir, "put big.bin "+name)
	})
}

func BenchmarkWholeGet(b *testing.B) {
	w := startWhole(b)
	benchGetBig(b, w, func(dir, name string) time.Duration {
		return w.myftpc(b, dir, "get big.bin "+name)
	})
}

// benchPutBig times uploads of a file of MYFTP_BENCH_SIZE, each by a client process that put
// runs, to a new name each time, and reports the median. The previous copy is removed untimed
// before each run, so that its memory serves the next (as the peers' runs overwrite theirs).
func benchPutBig(b *testing.B, w benchTarget, put func(dir, name string) time.Duration) {
	size := benchSize(b, "MYFTP_BENCH_SIZE", "64MiB")
	dir := w.workDir(b)
	randomFile(b, filepath.Join(dir, "big.bin"), size, 1)
	var runs []time.Duration
	var cpu cpuUse
	for i := 0; b.Loop(); i++ {
		if i > 0 {
			w.remove(b, dir, fmt.Sprintf("big%d.bin", i-1))
		}
		cpu.start(b, w)
		runs = append(runs, put(dir, fmt.Sprintf("big%d.bin", i)))
		cpu.stop(b, w)
	}
	report(b, runs, size, 0)
	cpu.report(b)
}

// cpuUse adds up the CPU time the server and the whole machine spend in the timed runs.
type cpuUse struct{ srv0, all0, srv, all time.Duration }

func (c *cpuUse) start(b *testing.B, w benchTarget) {
	c.srv0, c.all0 = w.cpu(b), machineCPU(b)
}

func (c *cpuUse) stop(b *testing.B, w benchTarget) {
	c.srv += w.cpu(b) - c.srv0
	c.all += machineCPU(b) - c.all0
}

// report reports the server's CPU time per run, and the rest of the machine's (the client's and
// whatever else ran: more than the client needs means the window was not quiet).
func (c *cpuUse) report(b *testing.B) {
	b.ReportMetric(c.srv.Seconds()/float64(b.N), "server-cpu-s/op")
	b.ReportMetric((c.all-c.srv).Seconds()/float64(b.N), "rest-cpu-s/op")
}

// benchGetBig times downloads of the file big.bin of MYFTP_BENCH_SIZE, each by a client process
// that get runs, to a new local name each time, and reports the median; the previous copy is
// removed untimed, as for uploads.
func benchGetBig(b *testing.B, w benchTarget, get func(dir, name string) time.Duration) {
	size := benchSize(b, "MYFTP_BENCH_SIZE", "64MiB")
	dir := w.workDir(b)
	randomFile(b, filepath.Join(dir, "big.bin"), size, 2)
	w.seed(b, dir, "big.bin")
	var runs []time.Duration
	var cpu cpuUse
	for i := 0; b.Loop(); i++ {
		if i > 0 {
			must(b, os.Remove(filepath.Join(dir, fmt.Sprintf("got%d.bin", i-1))))
		}
		cpu.start(b, w)
		runs = append(runs, get(dir, fmt.Sprintf("got%d.bin", i)))
		cpu.stop(b, w)
	}
	report(b, runs, size, 0)
	cpu.report(b)
}

// smallFiles writes n files of 4 KiB into dir.
func smallFiles(b *testing.B, dir string, n int) {
	must(b, os.MkdirAll(dir, 0o700))
	for i := range n {
		randomFile(b, filepath.Join(dir, fmt.Sprintf("f_%04d", i)), 4096, uint64(i))
	}
}

func BenchmarkWholeMput(b *testing.B) {
	w := startWhole(b)
	benchPutSmall(b, w, func(dir string, i int) time.Duration {
		return w.myftpc(b, filepath.Join(dir, "small"), fmt.Sprintf("mkdir up%d; cd up%d; mput *", i, i))
	})
}

// benchPutSmall times uploads of MYFTP_BENCH_FILES files of 4 KiB, from dir/small, each run by a
// client process that put starts, into the new directory up<i>, and reports the median.
func benchPutSmall(b *testing.B, w benchTarget, put func(dir string, i int) time.Duration) {
	n, _ := strconv.Atoi(benchEnv("MYFTP_BENCH_FILES", "1000"))
	dir := w.workDir(b)
	smallFiles(b, filepath.Join(dir, "small"), n)
	var runs []time.Duration
	for i := 0; b.Loop(); i++ {
		runs = append(runs, put(dir, i))
	}
	report(b, runs, 0, int64(n))
}

func BenchmarkWholeMget(b *testing.B) {
	w := startWhole(b)
	benchGetSmall(b, w, func(dir string) { w.myftpc(b, filepath.Join(dir, "small"), "mkdir up; cd up; mput *") },
		func(dir string, i int) time.Duration {
			return w.myftpc(b, filepath.Join(dir, fmt.Sprintf("got%d", i)), "cd up; mget *")
		})
}

// benchGetSmall times downloads of MYFTP_BENCH_FILES files of 4 KiB, which seed stores, untimed,
// from dir/small into the directory up on the server; each run is a client process that get
// starts, into the new local directory dir/got<i>; it reports the median.
func benchGetSmall(b *testing.B, w benchTarget, seed func(dir string), get func(dir string, i int) time.Duration) {
	n, _ := strconv.Atoi(benchEnv("MYFTP_BENCH_FILES", "1000"))
	dir := w.workDir(b)
	smallFiles(b, filepath.Join(dir, "small"), n)
	seed(dir)
	var runs []time.Duration
	for i := 0; b.Loop(); i++ {
		must(b, os.Mkdir(filepath.Join(dir, fmt.Sprintf("got%d", i)), 0o700))
		runs = append(runs, get(dir, i))
	}
	report(b, runs, 0, int64(n))
}

// BenchmarkWholeConcurrentPut: 32 myftpc processes each upload one file at once; the time is
// the whole batch's. The previous batch's files are removed, untimed, before each batch (as the
// peers' scripts do), so that a batch does not pay for memory that no file ever had before.
// Besides MB/s it reports the CPU time of the server, of the 32 clients, and of everything else
// on the machine during a batch.
func BenchmarkWholeConcurrentPut(b *testing.B) {
	const clients = 32
	w := startWhole(b)
	size := benchSize(b, "MYFTP_BENCH_CONC_SIZE", "8MiB")
	dir := w.workDir(b)
	for i := range clients {
		randomFile(b, filepath.Join(dir, fmt.Sprintf("c%02d.bin", i)), size, uint64(100+i))
	}
	var runs []time.Duration
	var srvCPU, cliCPU, others time.Duration
	for round := 0; b.Loop(); round++ {
		if round > 0 { // untimed, so that the next round reuses its memory, as in benchPutBig
			w.myftpc(b, dir, fmt.Sprintf("rm r%d_*.bin", round-1))
		}
		s0, m0 := procCPU(b, w.srv.Process.Pid), machineCPU(b)
		start := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range clients {
			wg.Go(func() {
				_, cpu := w.myftpcAs(b, fmt.Sprintf(".client%02d", i), dir, fmt.Sprintf("put c%02d.bin r%d_c%02d.bin", i, round, i))
				mu.Lock()
				cliCPU += cpu
				mu.Unlock()
			})
		}
		wg.Wait()
		runs = append(runs, time.Since(start))
		srv := procCPU(b, w.srv.Process.Pid) - s0
		srvCPU += srv
		others += machineCPU(b) - m0 - srv
	}
	report(b, runs, size*clients, 0)
	// Where the machine's time went, per batch: the server, the 32 clients, and everything else
	// (cliCPU is subtracted at the end), which says whether the window was quiet.
	b.ReportMetric(srvCPU.Seconds()/float64(b.N), "server-cpu-s/op")
	b.ReportMetric(cliCPU.Seconds()/float64(b.N), "clients-cpu-s/op")
	b.ReportMetric((others-cliCPU).Seconds()/float64(b.N), "others-cpu-s/op")
}

// machineCPU returns the CPU time all processors have spent busy so far (Linux): user, nice,
// system, interrupts.
func machineCPU(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Skipf("no /proc/stat here: %v", err)
	}
	line, _, _ := strings.Cut(string(data), "\n") // cpu user nice system idle iowait irq softirq
	f := strings.Fields(line)
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// procCPU returns the CPU time a process has used so far, user and system, with that of the
// children it has waited for (Linux).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skipf("no /proc/PID/stat here: %v", err)
	}
	_, rest, _ := strings.Cut(string(data), ") ") // the command may hold spaces
	f := strings.Fields(rest)                     // from field 3 (state): utime is 14, then stime, cutime, cstime
	var ticks int64
	for _, s := range f[11:15] {
		n, _ := strconv.ParseInt(s, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ
}

// BenchmarkWholeIdleSession measures what an idle logged-in session costs the server process:
// the growth of its resident and proportional set sizes (as the peers are measured), per
// session, between 300 and 600 sessions held open by the Go client in this process. Measuring
// between two counts of sessions rather than from an empty server leaves out what the process
// pays once: the argon2id scratch memory of the logins (19 MiB for each hash running at once),
// which the runtime may or may not have given back to the system at either measure.
func BenchmarkWholeIdleSession(b *testing.B) {
	const sessions = 300
	w := startWhole(b)
	var open []*client.Client
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	more := func() {
		for range sessions {
			c, err := client.Dial(context.Background(), client.Config{Addr: w.addr, KnownHosts: w.known})
			must(b, err)
			must(b, c.Login("bench", "bench-password"))
			open = append(open, c)
		}
	}
	var rss, pss float64
	for b.Loop() {
		more()
		r0, p0 := procMem(b, w.srv.Process.Pid)
		more()
		r1, p1 := procMem(b, w.srv.Process.Pid)
		rss += float64(r1-r0) / sessions
		pss += float64(p1-p0) / sessions
		for _, c := range open {
			c.Close()
		}
		open = open[:0]
	}
	b.ReportMetric(rss/float64(b.N), "RSS-KiB/session")
	b.ReportMetric(pss/float64(b.N), "PSS-KiB/session")
}

// procMem returns the resident and proportional set sizes of a process, in KiB (Linux).
func procMem(b *testing.B, pid int) (rss, pss int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		b.Skipf("no /proc/PID/smaps_rollup here: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "Rss:":
			rss = n
		case "Pss:":
			pss = n
		}
	}
	return rss, pss
}

func TestMain(m *testing.M) {
	code := m.Run()
	if wholeBin.dir != "" {
		os.RemoveAll(wholeBin.dir)
	}
	os.Exit(code)
}
