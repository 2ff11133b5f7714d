package pgdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/myftp/myftp/lib/account"
)

// Import copies accounts, as read from a db/ directory, into the database with their ids, names,
// homes, hashes, quotas, creation times, states and keys, in one transaction: all of them or none.
// It then moves the id sequence past lastID (the highest id the directory ever gave), so that no
// id is given twice, even one of an account deleted before the import.
//
// An account already in the database with the same id and name is skipped, so an import that is
// run again changes nothing; any other clash (a name or an id taken by another account, an
// overlapping home, an invalid record) fails the import, naming the account. It returns how many
// accounts it added.
func (d *DB) Import(list []account.Account, lastID int64) (int, error) {
	added := 0
	err := d.tx(func(ctx context.Context, tx pgx.Tx) error {
		added = 0
		for _, a := range list {
			ok, err := importOne(ctx, tx, a)
			if err != nil {
				return fmt.Errorf("account %q (id %d): %w", a.Name, a.ID, err)
			}
			if ok {
				added++
			}
		}
		_, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('accounts', 'id'), GREATEST($1::bigint,
			(SELECT coalesce(max(id), 0) FROM accounts),
			coalesce(pg_sequence_last_value(pg_get_serial_sequence('accounts', 'id')::regclass), 0), 1))`, lastID)
		return err
	})
	if err != nil {
		return 0, d.fail("import accounts", err)
	}
	d.cache.invalidate()
	return added, nil
}

// importOne adds a, unless the database holds it already, and reports whether it did.
func importOne(ctx context.Context, tx pgx.Tx, a account.Account) (bool, error) {
	if a.ID <= 0 {
		return false, fmt.Errorf("invalid id")
	}
	var id int64
	var name string
	err := tx.QueryRow(ctx, `SELECT id, name FROM accounts WHERE id = $1 OR name = $2 LIMIT 1`, a.ID, a.Name).Scan(&id, &name)
	switch {
	case err == nil && id == a.ID && name == a.Name:
		return false, nil
	case err == nil:
		return false, fmt.Errorf("%w: the database has account %q with id %d", account.ErrExists, name, id)
	case !errors.Is(err, pgx.ErrNoRows):
		return false, err
	}
	n, err := account.Normalize(a)
	if err != nil {
		return false, err
	}
	if n.Name != a.Name || n.Home != a.Home {
		return false, fmt.Errorf("%w: not in normal form", account.ErrInvalidName)
	}
	if err := takeHome(ctx, tx, a.Home, a.Name); err != nil {
		return false, err
	}
	_, err = tx.Exec(ctx, `INSERT INTO accounts (id, name, password_hash, home, quota, max_files, created, disabled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.ID, a.Name, a.PasswordHash, a.Home, a.Quota, a.MaxFiles, a.Created.UTC(), a.Disabled)
	if err != nil {
		return false, err
	}
	return true, writeKeys(ctx, tx, a.ID, a.Keys)
}
