package serve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/myftp/myftp/core/admin"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/core/shell"
	"github.com/myftp/myftp/lib/client"
	"github.com/myftp/myftp/lib/proxyproto/haproxytest"
)

// The tests of myftps behind a real HAProxy use several loopback addresses: HAProxy's frontends
// listen on the balancer's address, it connects to myftps from the trusted proxy's, and the
// clients connect from theirs (myftpc, which cannot choose, from 127.0.0.1), so that each address
// in the logs says who it is.
const (
	balancer = "127.0.0.4" // where clients reach HAProxy
	proxyIP  = "127.0.0.5" // where HAProxy connects to myftps from: trusted_proxies
	clientA  = "127.0.0.2"
	clientB  = "127.0.0.3"
)

// proxySettings is a myftps with the three doors behind a balancer: the PROXY protocol from
// proxyIP, the FTP door's passive range announced as 127.0.0.1 (this node's own
// address, which the clients reach directly), two connections per address, and a login throttle
// that, once on, lasts the whole test.
func proxySettings(passive string) string {
	return fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
shutdown_timeout = "5s"
proxy_protocol = true
trusted_proxies = [%q]
proxy_header_timeout = "2s"
[ftp]
listen = "127.0.0.1:0"
passive_ports = %q
public_host = "127.0.0.1"
[sftp]
listen = "127.0.0.1:0"
[limits]
max_per_address = 2
throttle_after = 2
throttle_delay = "10m"
throttle_max_delay = "10m"
[auth]
argon2_memory = "64KiB"
argon2_time = 1
[storage]
fsync = false
`, proxyIP, passive)
}

// freeRange returns n consecutive ports that were free on 127.0.0.1 a moment ago.
func freeRange(t *testing.T, n int) (first, last int) {
	t.Helper()
	for range 50 {
		first = 40000 + rand.IntN(20000)
		var ls []net.Listener
		for p := first; p < first+n; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			return first, first + n - 1
		}
	}
	t.Fatalf("no %d free consecutive ports found", n)
	return 0, 0
}

// doorAddrs reads what myftps prints after its native door's address until it has said where
// its FTP and SFTP doors listen.
func doorAddrs(t *testing.T, r *running) (ftp, sftp string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for ftp == "" || sftp == "" {
		select {
		case line := <-r.lines:
			if a, ok := strings.CutPrefix(line, "ftp listening on "); ok {
				ftp = a
			}
			if a, ok := strings.CutPrefix(line, "sftp listening on "); ok {
				sftp = a
			}
		case <-deadline:
			t.Fatalf("myftps did not say where its FTP and SFTP doors listen; stdout %q", r.stdout)
		}
	}
	return ftp, sftp
}

// addKey makes an SSH key in dir and lets it log in as bob, with create_user key add.
func addKey(t *testing.T, root, dir string) string {
	t.Helper()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := runClient(dir, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "proxy-test", "-f", key); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	var out bytes.Buffer
	if code := admin.Main(context.Background(), []string{"--root", root, "key", "add", "bob", key + ".pub"}, nil, &out, &out); code != 0 {
		t.Fatalf("create_user key add: exit %d\n%s", code, out.String())
	}
	return key
}

// runClient runs a client program in dir, for at most a minute, and returns its output.
func runClient(dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dialFrom connects the Go client (myftpc's) from the loopback address from to addr.
func dialFrom(t *testing.T, addr, from string) (*client.Client, error) {
	t.Helper()
	c, err := client.Dial(context.Background(), client.Config{Addr: addr, KnownHosts: filepath.Join(t.TempDir(), "known_hosts"),
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, DialTimeout: 10 * time.Second, IOTimeout: 20 * time.Second})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// xferHosts returns the remote host of each line of the transfer log, by file name.
func xferHosts(t *testing.T, root string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "log", "xferlog"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	hosts := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if f := strings.Fields(l); len(f) == 18 {
			hosts[filepath.Base(f[8])] = append(hosts[filepath.Base(f[8])], f[6])
		}
	}
	return hosts
}

// pasvReply finds the PASV reply in curl's verbose output.
var pasvReply = regexp.MustCompile(`227 Entering Passive Mode \((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// TestBehindHAProxy: with HAProxy in front of the three doors, sending the PROXY protocol in
// either version, myftpc's Go client, curl (FTPS) and OpenSSH's sftp, each connecting from
// 127.0.0.2, and myftpc itself (from 127.0.0.1) transfer files, and the transfer log and the
// event log name those clients, never the proxy. FTP's passive data connections bypass HAProxy, which relays only the control
// connection: curl is told this node's own address and a port of its passive range, and
// connects there.
func TestBehindHAProxy(t *testing.T) {
	t.Parallel()
	haproxytest.Need(t)
	curl := servertest.NeedClient(t, "curl", "curl")
	sftp := servertest.NeedClient(t, "sftp", "openssh-client")
	servertest.NeedClient(t, "ssh-keygen", "openssh-client")
	first, last := freeRange(t, 8)
	root := newRoot(t, proxySettings(fmt.Sprintf("%d-%d", first, last)))
	work := t.TempDir()
	key := addKey(t, root, work)
	payload := bytes.Repeat([]byte("behind a balancer\n"), 2000) // six copies fit bob's 1 MiB
	if err := os.WriteFile(filepath.Join(work, "up.bin"), payload, 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, root)
	ftpAddr, sftpAddr := doorAddrs(t, r)
	for _, send := range []string{"send-proxy", "send-proxy-v2"} {
		hp := haproxytest.Start(t,
			haproxytest.Route{Bind: balancer, Server: r.addr, SendProxy: send, Source: proxyIP},
			haproxytest.Route{Bind: balancer, Server: ftpAddr, SendProxy: send, Source: proxyIP},
			haproxytest.Route{Bind: balancer, Server: sftpAddr, SendProxy: send, Source: proxyIP})

		c, err := dialFrom(t, hp.Addrs[0], clientA)
		if err != nil {
			t.Fatalf("%s: native dial: %v", send, err)
		}
		if err := c.Login("bob", password); err != nil {
			t.Fatalf("%s: native login: %v", send, err)
		}
		if _, err := c.Put(context.Background(), filepath.Join(work, "up.bin"), "native-"+send, client.Options{}); err != nil {
			t.Fatalf("%s: native put: %v", send, err)
		}
		c.Close()
		myftpc(t, work, hp.Addrs[0], "put up.bin myftpc-"+send)

		_, port, _ := net.SplitHostPort(hp.Addrs[1])
		url := "ftp://localhost:" + port + "/"
		ftpArgs := []string{"-sS", "--fail", "-v", "--ssl-reqd", "--cacert", filepath.Join(root, "conf", "server.crt"),
			"-u", "bob:" + password, "--interface", clientA, "--resolve", "localhost:" + port + ":" + balancer,
			"--disable-epsv", "--no-ftp-skip-pasv-ip"}
		out, err := runClient(work, curl, append(ftpArgs, "-T", "up.bin", url+"ftp-"+send)...)
		if err != nil {
			t.Fatalf("%s: curl upload through HAProxy: %v\n%s", send, err, out)
		}
		m := pasvReply.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%s: no PASV reply in curl's output:\n%s", send, out)
		}
		p1, _ := strconv.Atoi(m[5])
		p2, _ := strconv.Atoi(m[6])
		if ip, port := strings.Join(m[1:5], "."), p1*256+p2; ip != "127.0.0.1" || port < first || port > last {
			t.Errorf("%s: PASV announced %s:%d, want 127.0.0.1 and a port from %d to %d", send, ip, port, first, last)
		}
		if out, err := runClient(work, curl, append(ftpArgs, "-o", "ftp-"+send, url+"ftp-"+send)...); err != nil {
			t.Fatalf("%s: curl download through HAProxy: %v\n%s", send, err, out)
		}
		if got, err := os.ReadFile(filepath.Join(work, "ftp-"+send)); err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%s: the file curl downloaded differs from the one it uploaded (%d bytes, %v)", send, len(got), err)
		}

		_, port, _ = net.SplitHostPort(hp.Addrs[2])
		batch := filepath.Join(work, "batch")
		if err := os.WriteFile(batch, []byte("put up.bin sftp-"+send+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = runClient(work, sftp, "-F", "/dev/null", "-i", key, "-P", port, "-b", batch, "-o", "BindAddress="+clientA,
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile="+filepath.Join(work, "known_hosts"),
			"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "bob@"+balancer)
		if err != nil {
			t.Fatalf("%s: sftp through HAProxy: %v\n%s", send, err, out)
		}
	}
	hosts := xferHosts(t, root)
	for _, send := range []string{"send-proxy", "send-proxy-v2"} {
		for _, w := range []struct {
			file string
			n    int
			from string
		}{{"native-" + send, 1, clientA}, {"ftp-" + send, 2, clientA}, {"sftp-" + send, 1, clientA}, {"myftpc-" + send, 1, "127.0.0.1"}} {
			if got := hosts[w.file]; len(got) != w.n || slicesAll(got, w.from) != w.n {
				t.Errorf("transfer log: %s from %v, want %d transfers from %s", w.file, got, w.n, w.from)
			}
		}
	}
	events, err := os.ReadFile(filepath.Join(root, "log", "myftps.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(events), "remote="+clientA+":") || strings.Contains(string(events), "remote="+proxyIP+":") {
		t.Errorf("the event log should name the client %s, never the proxy %s, as remote:\n%s", clientA, proxyIP, events)
	}
}

// myftpc runs myftpc (in-process, as its main does) in dir: it logs in to addr as bob and runs
// the commands cmds.
func myftpc(t *testing.T, dir, addr, cmds string) {
	t.Helper()
	var out bytes.Buffer
	code := shell.Run(context.Background(), shell.Env{Args: []string{"--root", dir, "-u", "bob", "--password-stdin", "--trust-new",
		"--known-hosts", filepath.Join(dir, "known_hosts"), "-c", cmds, addr}, Stdin: strings.NewReader(password + "\n"),
		Stdout: &out, Stderr: &out, Dir: dir, Getenv: func(string) string { return "" }})
	if code != shell.ExitOK {
		t.Fatalf("myftpc %s: exit %d\n%s", cmds, code, out.String())
	}
}

// slicesAll counts the elements of s equal to v.
func slicesAll(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestBehindHAProxyLimits: behind HAProxy, max_per_address and the login throttle count each
// client by its own address: 127.0.0.2 is refused a third connection while 127.0.0.3 gets one,
// and after failed logins from 127.0.0.8 that throttle it, 127.0.0.9 logs in through the same
// proxy. A connection straight from the trusted proxy's address without a header is closed, and
// a PROXY header from an address that is not trusted is not honoured.
func TestBehindHAProxyLimits(t *testing.T) {
	t.Parallel()
	haproxytest.Need(t)
	root := newRoot(t, proxySettings(""))
	r := start(t, root)
	ftpAddr, _ := doorAddrs(t, r)
	hp := haproxytest.Start(t, haproxytest.Route{Bind: balancer, Server: r.addr, SendProxy: "send-proxy-v2", Source: proxyIP})
	native := hp.Addrs[0]

	for range 2 {
		if _, err := dialFrom(t, native, clientA); err != nil {
			t.Fatalf("connection from %s: %v", clientA, err)
		}
	}
	if _, err := dialFrom(t, native, clientA); !errors.Is(err, client.ErrBusy) || !strings.Contains(err.Error(), "too many connections from "+clientA) {
		t.Errorf("a third connection from %s: %v, want it refused for its address", clientA, err)
	}
	if _, err := dialFrom(t, native, clientB); err != nil {
		t.Errorf("a connection from %s while %s holds its limit: %v", clientB, clientA, err)
	}

	bad, err := dialFrom(t, native, "127.0.0.8")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := bad.Login("bob", "not-the-password"); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if err := bad.Login("bob", password); err == nil || !strings.Contains(err.Error(), "too many failed logins from 127.0.0.8") {
		t.Errorf("login from 127.0.0.8 after its failures: %v, want it throttled", err)
	}
	good, err := dialFrom(t, native, "127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	if err := good.Login("bob", password); err != nil {
		t.Errorf("login from 127.0.0.9 through the same proxy as the throttled 127.0.0.8: %v", err)
	}

	if _, err := dialFrom(t, r.addr, proxyIP); err == nil {
		t.Error("a connection from the trusted proxy's address without a PROXY header was served")
	}
	stranger := dialRaw(t, ftpAddr, "127.0.0.7")
	fmt.Fprintf(stranger, "PROXY TCP4 192.0.2.7 127.0.0.1 51234 21\r\nQUIT\r\n")
	stranger.SetReadDeadline(time.Now().Add(20 * time.Second))
	replies, _ := readAll(stranger)
	if !strings.HasPrefix(replies, "220 ") || !strings.Contains(replies, "\r\n500 ") {
		t.Errorf("the FTP door's replies to a PROXY line from 127.0.0.7, which is not trusted: %q; want the greeting and a 500", replies)
	}
	events, err := os.ReadFile(filepath.Join(root, "log", "myftps.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no valid PROXY header", "remote=" + clientA + ":"} {
		if !strings.Contains(string(events), want) {
			t.Errorf("the event log does not say %q:\n%s", want, events)
		}
	}
	if strings.Contains(string(events), "192.0.2.7") {
		t.Errorf("the event log names 192.0.2.7, from a header that is not trusted:\n%s", events)
	}
}

// dialRaw opens a TCP connection to addr from the loopback address from.
func dialRaw(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads c until the server closes it or its deadline passes.
func readAll(c net.Conn) (string, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(c)
	return b.String(), err
}
