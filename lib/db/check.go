package db

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/myftp/myftp/lib/atomicfile"
)

// Problem is one inconsistency found by Check. None of them stops the database from working.
type Problem struct {
	Path   string // the file concerned
	Reason string // what is wrong, in words
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// Check reports what a crash or a hand edit can leave behind: temporary files, unreadable account
// records, accounts missing from id_user_rs.json and mapping entries without an account.
func (d *DB) Check() ([]Problem, error) {
	var probs []Problem
	for _, dir := range []string{d.dir, filepath.Join(d.dir, accountsDir)} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("check db: %w", err)
		}
		for _, e := range entries {
			if atomicfile.IsTemp(e.Name()) {
				probs = append(probs, Problem{filepath.Join(dir, e.Name()), "leftover temporary file from an interrupted write"})
			}
		}
	}
	m, err := d.Mapping()
	if err != nil {
		probs = append(probs, Problem{filepath.Join(d.dir, mappingFile), err.Error()})
		m = map[int64]string{}
	}
	names, err := d.accountNames()
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	for _, n := range names {
		a, err := d.read(n)
		if err != nil {
			probs = append(probs, Problem{d.accountPath(n), err.Error()})
			continue
		}
		seen[a.ID] = true
		if m[a.ID] != a.Name {
			probs = append(probs, Problem{d.accountPath(n), fmt.Sprintf("account id %d is missing from %s", a.ID, mappingFile)})
		}
	}
	for id, n := range m {
		if !seen[id] {
			probs = append(probs, Problem{filepath.Join(d.dir, mappingFile), fmt.Sprintf("id %d names %q, which has no account file", id, n)})
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].String() < probs[j].String() })
	return probs, nil
}

// Repair removes temporary leftovers and rewrites id_user_rs.json from the account files. Unreadable
// account records are left for a person to look at.
func (d *DB) Repair() error {
	return d.locked(func() error {
		for _, dir := range []string{d.dir, filepath.Join(d.dir, accountsDir)} {
			entries, err := os.ReadDir(dir)
			if err != nil {
				return fmt.Errorf("repair db: %w", err)
			}
			for _, e := range entries {
				if atomicfile.IsTemp(e.Name()) {
					if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
						return fmt.Errorf("repair db: %w", err)
					}
				}
			}
		}
		list, err := d.List()
		if err != nil {
			return err
		}
		m := make(map[int64]string, len(list))
		for _, a := range list {
			m[a.ID] = a.Name
		}
		return d.writeMapping(m)
	})
}
