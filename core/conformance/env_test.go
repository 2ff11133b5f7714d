package conformance_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/myftp/myftp/core/ftpdoor"
	"github.com/myftp/myftp/core/server/servertest"
	"github.com/myftp/myftp/core/sftpdoor"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/local"
	"github.com/myftp/myftp/lib/storage/s3"
	"github.com/myftp/myftp/lib/storage/s3/s3test"
)

// backend is a storage backend the suite runs on: open returns a backend on a new, empty store
// (on the local disk, the homes directory of the runtime root dir), and the bucket's options on S3.
type backend struct {
	name string
	open func(t *testing.T, dir string) (storage.Backend, *s3.Options)
}

var backends = []backend{
	{"local", func(t *testing.T, dir string) (storage.Backend, *s3.Options) {
		return local.New(filepath.Join(dir, "file_upload"), local.Options{}), nil
	}},
	{"s3", func(t *testing.T, _ string) (storage.Backend, *s3.Options) {
		opts := s3test.Bucket(t) // skips without a test S3 server
		b, err := s3.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return b, &opts
	}},
}

// env is a server with its three doors on one backend, and what their clients need: the
// server's certificate for curl, a known_hosts file with the SFTP door's host key and a HOME of
// their own for OpenSSH, and a key pair per account.
type env struct {
	*servertest.Env
	t          *testing.T
	store      storage.Backend // the homes, as the server holds them
	bucket     *s3.Options     // the bucket, on S3
	ca         string          // the server's certificate (PEM)
	clientHome string          // HOME of the OpenSSH clients; keys and known_hosts live there
	knownHosts string
	keys       map[string]string // account name to its private key file
}

// newEnv starts a server with the native, FTP (explicit TLS required, as by default) and SFTP
// doors, its homes on b.
func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	dir := t.TempDir()
	store, bucket := b.open(t, dir)
	ftp := ftpdoor.Config{TLSMode: ftpdoor.TLSRequired, RequireTLSReuse: true, StrictTLSEOF: true, IdleTimeout: time.Minute,
		RefusedDrainSize: 64 << 20, RefusedDrainTime: 10 * time.Second}
	sftp := sftpdoor.Config{IdleTimeout: time.Minute, WriteTimeout: time.Minute}
	se := servertest.Start(t, servertest.Options{Dir: dir, Backend: store, FTP: &ftp, SFTP: &sftp})
	e := &env{Env: se, t: t, store: store, bucket: bucket, clientHome: t.TempDir(), keys: map[string]string{}}
	e.ca = filepath.Join(dir, "server.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: se.Cert.Certificate[0]})
	must(t, os.WriteFile(e.ca, cert, 0o644))
	e.knownHosts = filepath.Join(e.clientHome, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(se.SFTPAddr)}, se.HostKey.PublicKey())
	must(t, os.WriteFile(e.knownHosts, []byte(line+"\n"), 0o600))
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "log", "myftps.log"))
			t.Logf("server log:\n%s", log)
		}
	})
	return e
}

// user creates an account with the password name+"-pw", the quota (0: 1 GiB) and an ed25519
// key for OpenSSH, as create_user and create_user key add would.
func (e *env) user(name string, quota int64) {
	e.t.Helper()
	e.AddUser(name, name+"-pw", quota)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(e.t, err)
	block, err := ssh.MarshalPrivateKey(priv, name)
	must(e.t, err)
	e.keys[name] = filepath.Join(e.clientHome, "id_"+name)
	must(e.t, os.WriteFile(e.keys[name], pem.EncodeToMemory(block), 0o600))
	signer, err := ssh.NewSignerFromKey(priv)
	must(e.t, err)
	keys, err := account.ParseKeys(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	must(e.t, err)
	_, err = e.DB.Update(name, func(a *account.Account) error { a.AddKeys(keys); return nil })
	must(e.t, err)
}

// plant stores files in the home of an account, straight into the backend as an administrator
// could (before the account's first session, which measures its usage), making the directories
// on the way; a name that ends in "/" is a directory to make. Several at a time, so that
// thousands are planted quickly on S3.
func (e *env) plant(home string, files map[string][]byte) {
	e.t.Helper()
	ctx := context.Background()
	h, err := e.store.OpenHome(ctx, home, true)
	must(e.t, err)
	defer h.Close()
	dirs := map[string]bool{}
	for name := range files {
		for d := path.Dir(strings.TrimSuffix(name, "/")); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range sortedKeys(dirs) { // parents before their children
		if err := h.Mkdir(ctx, d); err != nil && !errors.Is(err, storage.ErrExist) {
			e.t.Fatalf("plant %s/%s: %v", home, d, err)
		}
	}
	names := make(chan string)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for name := range names {
				if err := put(ctx, h, name, files[name]); err != nil {
					errs <- fmt.Errorf("plant %s/%s: %w", home, name, err)
					return
				}
			}
			errs <- nil
		})
	}
	go func() {
		defer close(names)
		for name := range files {
			names <- name
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		must(e.t, err)
	}
}

// put stores data as the file name of h, or makes the directory name ending in "/".
func put(ctx context.Context, h storage.Home, name string, data []byte) error {
	if dir, ok := strings.CutSuffix(name, "/"); ok {
		return h.Mkdir(ctx, dir)
	}
	p, err := h.Partial(ctx, "plant-"+strings.ReplaceAll(name, "/", "-"), name, storage.PartialOptions{})
	if err != nil {
		return err
	}
	if _, err := p.Write(data); err != nil {
		p.Discard()
		return err
	}
	_, err = p.Publish(ctx, time.Time{}, nil)
	return err
}

// holds reports whether the store has an entry under name in the home (what any node would see).
func (e *env) holds(home, name string) bool {
	e.t.Helper()
	h, err := e.store.OpenHome(context.Background(), home, false)
	must(e.t, err)
	defer h.Close()
	_, err = h.Lstat(context.Background(), name)
	if err != nil && !errors.Is(err, storage.ErrNotExist) {
		e.t.Fatal(err)
	}
	return err == nil
}

// outside records everything the store holds outside the home, and on the local disk the
// directory outside beside the homes: the other homes, or the bucket's other prefixes.
func (e *env) outside(home string) map[string]servertest.FileState {
	e.t.Helper()
	if e.bucket == nil {
		own := e.Home(home)
		skip := func(p string) bool { return p == own }
		return servertest.Snapshot(e.t, skip, filepath.Join(e.Dir, "file_upload"), e.outsideDir())
	}
	c, err := minio.New(strings.TrimPrefix(e.bucket.Endpoint, "http://"), &minio.Options{Creds: e.bucket.Credentials, BucketLookup: minio.BucketLookupPath})
	must(e.t, err)
	m := map[string]servertest.FileState{}
	for oi := range c.ListObjects(context.Background(), e.bucket.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		must(e.t, oi.Err)
		if !strings.HasPrefix(oi.Key, home+"/") {
			m[oi.Key] = servertest.FileState{Size: oi.Size, Mtime: oi.LastModified, Sum: sha256.Sum256([]byte(oi.ETag))}
		}
	}
	return m
}

// outsideDir is a directory beside the homes on the local disk, which no home reaches.
func (e *env) outsideDir() string { return filepath.Join(e.Dir, "outside") }

// xferLines returns the lines of the transfer log of the account, as fields: [7] is the bytes
// that travelled, [11] the direction (i, o), [17] the completion (c, i).
func (e *env) xferLines(user string) [][]string {
	e.t.Helper()
	f, err := os.Open(e.Xferlog)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	must(e.t, err)
	defer f.Close()
	var lines [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) == 18 && fs[13] == user {
			lines = append(lines, fs)
		}
	}
	must(e.t, sc.Err())
	return lines
}

// waitXfer waits until the transfer log holds n lines of the account: the server has ended
// that many of its transfers (a cut one ends when the server sees the connection go).
func (e *env) waitXfer(user string, n int) [][]string {
	e.t.Helper()
	var lines [][]string
	servertest.Eventually(e.t, fmt.Sprintf("%d transfers of %s in the transfer log", n, user), func() bool {
		lines = e.xferLines(user)
		return len(lines) >= n
	})
	return lines
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
