// Package db stores myftp accounts as files: one JSON file per account under DIR/accounts/, named
// after the account, plus DIR/id_user_rs.json mapping account ids to names and DIR/last_id holding
// the highest id ever given (ids are never reused).
//
// Every write is atomic (package atomicfile) and every change happens under an exclusive lock on
// DIR/.lock, so several processes (create_user runs, a server) can share one database. Reads of one
// file take no lock: a file is always either its old or its new version. Check, which compares
// several files, takes the lock shared. The account files are the truth; the id mapping is kept
// beside them for people and tools, and Check reports where the two disagree after a crash.
//
// While an account file is unreadable, no account can be created: the home and the id it holds are
// unknown, so neither a new home nor a new id could be proven free. Check names such files.
package db

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/atomicfile"
)

// Errors returned by DB methods, wrapped with the account concerned. The first three are package
// account's, which every account database returns.
var (
	ErrNotFound  = account.ErrNotFound
	ErrExists    = account.ErrExists
	ErrHomeTaken = account.ErrHomeTaken
	ErrCorrupt   = errors.New("db: unreadable account record")
	// ErrMappingStale means a change to the accounts was made but id_user_rs.json could not be
	// updated to match: the change stands (the account files are the truth) and Repair rebuilds
	// the mapping.
	ErrMappingStale = errors.New("db: id_user_rs.json not updated")
)

// AccountsDir is the directory of the account files, inside the database directory: a database
// exists where it does.
const AccountsDir = "accounts"

const (
	accountsDir = AccountsDir
	mappingFile = "id_user_rs.json"
	lastIDFile  = "last_id"
	lockFile    = ".lock"
	fileMode    = 0o600
	dirMode     = 0o700
)

// DB is an account database rooted at a directory. Its methods are safe for concurrent use by
// goroutines and by processes.
type DB struct {
	dir string

	mu    sync.Mutex
	cache map[string]cached // last record read per name, reused while its file is unchanged
}

// cached is an account record, the file it was read from, and that file's path.
type cached struct {
	fi   fs.FileInfo
	a    account.Account
	path string
}

// Open returns the database in dir, creating dir and dir/accounts (mode 0700) if needed, and
// making them 0700 if they exist with another mode (a git checkout's db/ is 0755); the latter is
// best effort.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(filepath.Join(dir, accountsDir), dirMode); err != nil {
		return nil, fmt.Errorf("open db: %w", err)
	}
	os.Chmod(dir, dirMode)
	os.Chmod(filepath.Join(dir, accountsDir), dirMode)
	return &DB{dir: dir, cache: map[string]cached{}}, nil
}

// Exists reports whether dir holds a database (its accounts directory), without making one.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, accountsDir))
	return err == nil
}

// Dir returns the database directory.
func (d *DB) Dir() string { return d.dir }

// Where names the database for people: its directory, as Dir.
func (d *DB) Where() string { return d.dir }

// Close does nothing: a DB holds no open file between calls. It is there for callers that close
// whichever account database they opened.
func (d *DB) Close() {}

// LastID returns the highest id the database ever gave, deleted accounts' included: the larger
// of last_id and the ids of the account files. An unreadable last_id counts as 0, and an
// unreadable account file is an error wrapping ErrCorrupt.
func (d *DB) LastID() (int64, error) {
	var last int64
	err := d.rlocked(func() error {
		list, err := d.ListAll()
		if err != nil {
			return err
		}
		for _, a := range list {
			last = max(last, a.ID)
		}
		if id, _, err := d.lastID(); err == nil {
			last = max(last, id)
		}
		return nil
	})
	return last, err
}

func (d *DB) accountPath(name string) string {
	return filepath.Join(d.dir, accountsDir, name+".json")
}

// Get returns the account called name (normalised first). It reads one file: no scan.
func (d *DB) Get(name string) (account.Account, error) {
	n, err := account.NormalizeName(name)
	if err != nil {
		return account.Account{}, fmt.Errorf("%w %q", ErrNotFound, name)
	}
	return d.read(n)
}

// read returns the record of name. A server asks for it at every command, so the last record
// read is kept and reused while a stat shows the same file (every write replaces the file, so a
// change always shows).
func (d *DB) read(name string) (account.Account, error) {
	var a account.Account
	// The usual case, the file unchanged since it was read: one stat, no open, and the path
	// kept from then (joining it again cost a third as much as the stat).
	if c, ok := d.cached(name); ok {
		if fi, err := os.Stat(c.path); err == nil && c.from(fi) {
			return c.a, nil
		}
	}
	p := d.accountPath(name)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return a, fmt.Errorf("%w %q", ErrNotFound, name)
	}
	if err != nil {
		return a, fmt.Errorf("read account %q: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return a, fmt.Errorf("read account %q: %w", name, err)
	}
	if c, ok := d.cached(name); ok && c.from(fi) {
		return c.a, nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return a, fmt.Errorf("read account %q: %w", name, err)
	}
	if err := json.Unmarshal(data, &a); err != nil || a.Name != name {
		return a, fmt.Errorf("%w %q: %s", ErrCorrupt, name, p)
	}
	d.mu.Lock()
	d.cache[name] = cached{fi: fi, a: a, path: p}
	d.mu.Unlock()
	return a, nil
}

// from reports whether the record was read from the file fi describes, unchanged since.
func (c cached) from(fi fs.FileInfo) bool {
	return os.SameFile(c.fi, fi) && c.fi.ModTime().Equal(fi.ModTime()) && c.fi.Size() == fi.Size()
}

func (d *DB) cached(name string) (cached, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.cache[name]
	return c, ok
}

// Create stores a new account. It normalises a.Name and a.Home (an empty home means the name),
// assigns a fresh id and the creation time, and returns what was stored. It fails with ErrExists for
// a taken name and ErrHomeTaken when the home is the same as, inside, or around another account's
// home (either would let one user see the other's files). It fails with ErrCorrupt, naming the
// file, while any account file, last_id or id_user_rs.json is unreadable.
func (d *DB) Create(a account.Account) (account.Account, error) {
	a, err := account.Normalize(a)
	if err != nil {
		return a, err
	}
	err = d.locked(func() error {
		if _, err := os.Stat(d.accountPath(a.Name)); err == nil {
			return fmt.Errorf("%w: %q", ErrExists, a.Name)
		}
		if err := d.checkHomeFree(a.Home, a.Name); err != nil {
			return err
		}
		id, err := d.nextID()
		if err != nil {
			return err
		}
		a.ID, a.Created = id, time.Now().UTC().Truncate(time.Second)
		// Order matters for crashes: the id is spent first, then the account exists, then the
		// mapping names it. Each crash point leaves a state that Check explains.
		if err := d.writeLastID(id); err != nil {
			return err
		}
		if err := d.write(a); err != nil {
			return err
		}
		return d.updateMapping(func(m map[int64]string) { m[a.ID] = a.Name })
	})
	return a, err
}

// Update applies fn to the stored account called name and writes the result. fn must not change
// the id or the name; a changed home is checked like in Create.
func (d *DB) Update(name string, fn func(*account.Account) error) (account.Account, error) {
	var a account.Account
	err := d.locked(func() error {
		var err error
		if a, err = d.Get(name); err != nil {
			return err
		}
		id, n, home := a.ID, a.Name, a.Home
		if err := fn(&a); err != nil {
			return err
		}
		if a.ID != id || a.Name != n {
			return fmt.Errorf("update %q: id and name cannot change", n)
		}
		if err := account.CheckQuota(a.Quota); err != nil {
			return err
		}
		if err := account.CheckMaxFiles(a.MaxFiles); err != nil {
			return err
		}
		if a.Home != home {
			if a.Home, err = account.NormalizeHome(a.Home); err != nil {
				return err
			}
			if err := d.checkHomeFree(a.Home, a.Name); err != nil {
				return err
			}
		}
		return d.write(a)
	})
	return a, err
}

// Delete removes the account called name and returns what it was. Its id is not reused. The home
// directory is left alone; removing files is the caller's decision.
//
// Once the account file is removed the account is deleted, whatever happens to the mapping: if
// id_user_rs.json cannot be read or written, Delete returns the account with an error wrapping
// ErrMappingStale, and the caller goes on as after a deletion (Repair drops the stale entry).
func (d *DB) Delete(name string) (account.Account, error) {
	var a account.Account
	err := d.locked(func() error {
		var err error
		if a, err = d.Get(name); err != nil {
			return err
		}
		if err := os.Remove(d.accountPath(a.Name)); err != nil {
			return fmt.Errorf("delete account %q: %w", a.Name, err)
		}
		if err := atomicfile.SyncDir(filepath.Join(d.dir, accountsDir)); err != nil {
			return err
		}
		if err := d.updateMapping(func(m map[int64]string) { delete(m, a.ID) }); err != nil {
			return fmt.Errorf("%w: account %q was deleted, but its id %d may still be listed: %w", ErrMappingStale, a.Name, a.ID, err)
		}
		return nil
	})
	return a, err
}

// List returns every readable account, ordered by id. Unreadable records are skipped; Check names
// them.
func (d *DB) List() ([]account.Account, error) { return d.readAll(false) }

// ListAll is List for decisions that must see every account, such as whether a home is free: it
// fails with ErrCorrupt, naming the file, at the first account file it cannot read.
func (d *DB) ListAll() ([]account.Account, error) { return d.readAll(true) }

// readAll reads every account file, ordered by id. An unreadable one is skipped, or with strict
// is the error.
func (d *DB) readAll(strict bool) ([]account.Account, error) {
	names, err := d.accountNames()
	if err != nil {
		return nil, err
	}
	list := make([]account.Account, 0, len(names))
	for _, n := range names {
		a, err := d.read(n)
		switch {
		case err == nil:
			list = append(list, a)
		case strict:
			return nil, err
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	return list, nil
}

// accountNames lists the names of the account files, skipping temporary files.
func (d *DB) accountNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(d.dir, accountsDir))
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !atomicfile.IsTemp(e.Name()) && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	return names, nil
}

func (d *DB) write(a account.Account) error {
	data, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("encode account %q: %w", a.Name, err)
	}
	return atomicfile.WriteFile(d.accountPath(a.Name), append(data, '\n'), fileMode)
}

// checkHomeFree fails if home overlaps the home of an account other than self, or if an account
// file is unreadable (its home is unknown).
func (d *DB) checkHomeFree(home, self string) error {
	list, err := d.ListAll()
	if err != nil {
		return err
	}
	for _, o := range list {
		if o.Name != self && overlaps(home, o.Home) {
			return fmt.Errorf("%w: %q overlaps %q of account %q", ErrHomeTaken, home, o.Home, o.Name)
		}
	}
	return nil
}

func overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

// nextID returns one more than the highest id ever given: the highest of last_id, the mapping and
// the account files. It fails if any of them is unreadable.
func (d *DB) nextID() (int64, error) {
	last, _, err := d.lastID()
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %w", ErrCorrupt, lastIDFile, err)
	}
	// Never go below an id that is in use, whatever last_id says.
	m, err := d.Mapping()
	if err != nil {
		return 0, err
	}
	for id := range m {
		last = max(last, id)
	}
	list, err := d.ListAll()
	if err != nil {
		return 0, err
	}
	for _, a := range list {
		last = max(last, a.ID)
	}
	return last + 1, nil
}

// lastID returns the id stored in last_id, and whether the file exists (0 and false if not).
func (d *DB) lastID() (int64, bool, error) {
	data, err := os.ReadFile(filepath.Join(d.dir, lastIDFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, true, err
	}
	id, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || id < 0 {
		return 0, true, fmt.Errorf("not an id: %q", strings.TrimSpace(string(data)))
	}
	return id, true, nil
}

func (d *DB) writeLastID(id int64) error {
	return atomicfile.WriteFile(filepath.Join(d.dir, lastIDFile), []byte(strconv.FormatInt(id, 10)+"\n"), fileMode)
}

// Mapping returns the id-to-name mapping as stored in id_user_rs.json (empty if the file does not
// exist yet).
func (d *DB) Mapping() (map[int64]string, error) {
	m := map[int64]string{}
	data, err := os.ReadFile(filepath.Join(d.dir, mappingFile))
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", mappingFile, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, mappingFile, err)
	}
	return m, nil
}

func (d *DB) updateMapping(change func(map[int64]string)) error {
	m, err := d.Mapping()
	if err != nil {
		return err
	}
	change(m)
	return d.writeMapping(m)
}

func (d *DB) writeMapping(m map[int64]string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", mappingFile, err)
	}
	return atomicfile.WriteFile(filepath.Join(d.dir, mappingFile), append(data, '\n'), fileMode)
}

// locked runs fn while holding the database's exclusive file lock.
func (d *DB) locked(fn func() error) error { return d.withLock((*flock.Flock).Lock, fn) }

// rlocked runs fn while holding the database's file lock shared: no change is in progress, and
// other readers may run at the same time.
func (d *DB) rlocked(fn func() error) error { return d.withLock((*flock.Flock).RLock, fn) }

func (d *DB) withLock(lock func(*flock.Flock) error, fn func() error) error {
	l := flock.New(filepath.Join(d.dir, lockFile), flock.SetPermissions(fileMode))
	if err := lock(l); err != nil {
		return fmt.Errorf("lock db: %w", err)
	}
	defer l.Unlock()
	return fn()
}
