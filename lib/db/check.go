package db

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/atomicfile"
)

// Problem is one inconsistency found by Check. None of them stops the database from working.
type Problem struct {
	Path   string // the file concerned
	Reason string // what is wrong, in words
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// Check reports what a crash or a hand edit can leave behind: temporary files, unreadable account
// records, SSH keys in a record that do not parse, accounts missing from id_user_rs.json, mapping
// entries without an account file, and a last_id that is unreadable, missing while ids have been
// given, or below an id in use. It holds the database lock (shared) so that it never sees a change
// half done.
func (d *DB) Check() ([]Problem, error) {
	var probs []Problem
	err := d.rlocked(func() error {
		var err error
		probs, err = d.check()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("check db: %w", err)
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].String() < probs[j].String() })
	return probs, nil
}

// check is Check without the lock.
func (d *DB) check() ([]Problem, error) {
	probs, err := d.checkTemps()
	if err != nil {
		return nil, err
	}
	m, err := d.Mapping()
	if err != nil {
		probs = append(probs, Problem{filepath.Join(d.dir, mappingFile), err.Error()})
		m = map[int64]string{}
	}
	s, err := d.scan()
	if err != nil {
		return nil, err
	}
	for _, a := range s.accounts {
		if m[a.ID] != a.Name {
			probs = append(probs, Problem{d.accountPath(a.Name), fmt.Sprintf("account id %d is missing from %s", a.ID, mappingFile)})
		}
		probs = append(probs, d.checkKeys(a)...)
	}
	for _, n := range s.unreadable {
		probs = append(probs, Problem{d.accountPath(n), s.errs[n].Error()})
	}
	for id, n := range m {
		// A mapping entry of an unreadable file is not reported again: the file is.
		if !s.ids[id] && s.errs[n] == nil {
			probs = append(probs, Problem{filepath.Join(d.dir, mappingFile), fmt.Sprintf("id %d names %q, which has no account file", id, n)})
		}
	}
	if p, ok := d.checkLastID(max(s.maxID, maxKey(m)), len(s.accounts)+len(s.unreadable)+len(m) > 0); !ok {
		probs = append(probs, p)
	}
	return probs, nil
}

// checkKeys reports the SSH keys of a that do not parse, which only a hand edit makes: they
// cannot log in, and the record should be fixed.
func (d *DB) checkKeys(a account.Account) []Problem {
	var probs []Problem
	for i, k := range a.Keys {
		if _, err := k.PublicKey(); err != nil {
			name := k.Fingerprint()
			if name == "" {
				name = "no fingerprint"
			}
			probs = append(probs, Problem{d.accountPath(a.Name), fmt.Sprintf("key %d (%s) cannot log in: %v", i+1, name, err)})
		}
	}
	return probs
}

// checkTemps reports the temporary files left by interrupted writes.
func (d *DB) checkTemps() ([]Problem, error) {
	var probs []Problem
	err := d.eachTemp(func(path string) error {
		probs = append(probs, Problem{path, "leftover temporary file from an interrupted write"})
		return nil
	})
	return probs, err
}

// eachTemp calls fn with the path of every temporary file in the database.
func (d *DB) eachTemp(fn func(path string) error) error {
	for _, dir := range []string{d.dir, filepath.Join(d.dir, accountsDir)} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if atomicfile.IsTemp(e.Name()) {
				if err := fn(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// scanned is what the account files hold.
type scanned struct {
	accounts   []account.Account // the readable ones
	ids        map[int64]bool    // their ids
	unreadable []string          // names of the files that exist but cannot be read
	errs       map[string]error  // why, by name
	maxID      int64             // the highest id of a readable file
}

// scan reads every account file.
func (d *DB) scan() (scanned, error) {
	s := scanned{ids: map[int64]bool{}, errs: map[string]error{}}
	names, err := d.accountNames()
	if err != nil {
		return s, err
	}
	for _, n := range names {
		a, err := d.read(n)
		if err != nil {
			s.unreadable = append(s.unreadable, n)
			s.errs[n] = err
			continue
		}
		s.accounts = append(s.accounts, a)
		s.ids[a.ID] = true
		s.maxID = max(s.maxID, a.ID)
	}
	return s, nil
}

// checkLastID reports a last_id that is unreadable, missing although ids have been given (inUse),
// or below maxSeen, the highest id of the account files and the mapping. ok is true if it is fine.
func (d *DB) checkLastID(maxSeen int64, inUse bool) (p Problem, ok bool) {
	p.Path = filepath.Join(d.dir, lastIDFile)
	last, exists, err := d.lastID()
	switch {
	case err != nil:
		p.Reason = fmt.Sprintf("unreadable: %v; no account can be created until it is repaired", err)
	case !exists && inUse:
		p.Reason = "missing although ids have been given; a deleted account's id may be given again"
	case last < maxSeen:
		p.Reason = fmt.Sprintf("holds %d, below id %d already given", last, maxSeen)
	default:
		return p, true
	}
	return p, false
}

func maxKey(m map[int64]string) int64 {
	var top int64
	for id := range m {
		top = max(top, id)
	}
	return top
}

// Repair removes temporary leftovers, rewrites id_user_rs.json from the account files and rewrites
// a last_id that Check would report. Unreadable account records are left for a person to look at;
// their mapping entries are kept, since their files still hold those ids.
func (d *DB) Repair() error {
	return d.locked(func() error {
		if err := d.eachTemp(os.Remove); err != nil {
			return fmt.Errorf("repair db: remove temporary file: %w", err)
		}
		old, err := d.Mapping()
		if err != nil {
			old = map[int64]string{} // unreadable: rebuilt from the files alone
		}
		s, err := d.scan()
		if err != nil {
			return fmt.Errorf("repair db: %w", err)
		}
		if err := d.writeMapping(rebuiltMapping(s, old)); err != nil {
			return err
		}
		return d.repairLastID(max(s.maxID, maxKey(old)))
	})
}

// rebuiltMapping maps the id of every readable account file to its name, and keeps the entries of
// old that name a file that exists but cannot be read, unless a readable file holds that id.
func rebuiltMapping(s scanned, old map[int64]string) map[int64]string {
	m := make(map[int64]string, len(s.accounts))
	for _, a := range s.accounts {
		m[a.ID] = a.Name
	}
	for id, n := range old {
		if _, taken := m[id]; !taken && s.errs[n] != nil {
			m[id] = n
		}
	}
	return m
}

// repairLastID rewrites last_id as maxSeen, the highest id of the account files and the old
// mapping, if it is unreadable, missing or lower. This is the best that can be done: an id given
// to an account deleted since, and no longer in the mapping, is known only to last_id, so a lost
// last_id may still let that id be given again.
func (d *DB) repairLastID(maxSeen int64) error {
	last, exists, err := d.lastID()
	if err == nil && (exists || maxSeen == 0) && last >= maxSeen {
		return nil
	}
	if err := d.writeLastID(maxSeen); err != nil {
		return fmt.Errorf("repair %s: %w", lastIDFile, err)
	}
	return nil
}
