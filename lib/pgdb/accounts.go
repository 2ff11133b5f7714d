package pgdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/myftp/myftp/lib/account"
)

// homesLock is the advisory lock (pg_advisory_xact_lock) under which a home is checked free and
// taken: without it, two transactions could each see no overlap and both commit.
const homesLock = 0x6d7966747001 // "myftp" 1

// columns are the accounts' columns, in the order scan reads them.
const columns = `id, name, password_hash, home, quota, max_files, created, disabled`

// Get returns the account called name (normalised first): from memory while the DB listens for
// changes (see cache), else from the database.
func (d *DB) Get(name string) (account.Account, error) {
	n, err := account.NormalizeName(name)
	if err != nil {
		return account.Account{}, fmt.Errorf("%w %q", account.ErrNotFound, name)
	}
	a, gen, ok := d.cache.get(n)
	if ok {
		return a, nil
	}
	err = d.call(func(ctx context.Context) error {
		var err error
		a, err = get(ctx, d.pool, n, "")
		return err
	})
	if err != nil {
		return a, d.fail("get account "+n, err)
	}
	d.cache.put(a, gen)
	return a, nil
}

// querier is what get needs: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// get reads the account called name with its keys, in one round trip; lock is "" or a locking
// clause such as "FOR UPDATE".
func get(ctx context.Context, q querier, name, lock string) (account.Account, error) {
	var keys []byte
	var a account.Account
	err := q.QueryRow(ctx, `SELECT `+columns+`, (SELECT coalesce(json_agg(json_build_object('type', k.type, 'key', k.key,
		'comment', k.comment) ORDER BY k.position), '[]') FROM ssh_keys k WHERE k.account_id = accounts.id)
		FROM accounts WHERE name = $1 `+lock, name).
		Scan(&a.ID, &a.Name, &a.PasswordHash, &a.Home, &a.Quota, &a.MaxFiles, &a.Created, &a.Disabled, &keys)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("%w %q", account.ErrNotFound, name)
	}
	if err != nil {
		return a, err
	}
	a.Created = a.Created.UTC()
	if err := json.Unmarshal(keys, &a.Keys); err != nil {
		return a, fmt.Errorf("keys of %q: %w", name, err)
	}
	if len(a.Keys) == 0 {
		a.Keys = nil
	}
	return a, nil
}

func scan(row pgx.Row) (account.Account, error) {
	var a account.Account
	err := row.Scan(&a.ID, &a.Name, &a.PasswordHash, &a.Home, &a.Quota, &a.MaxFiles, &a.Created, &a.Disabled)
	a.Created = a.Created.UTC()
	return a, err
}

// readKeys returns the keys of the accounts the where clause selects, by account id, in their
// order.
func readKeys(ctx context.Context, q querier, where string, args ...any) (map[int64][]account.Key, error) {
	rows, err := q.Query(ctx, `SELECT account_id, type, key, comment FROM ssh_keys `+where+` ORDER BY account_id, position`, args...)
	if err != nil {
		return nil, err
	}
	keys := map[int64][]account.Key{}
	var id int64
	var k account.Key
	_, err = pgx.ForEachRow(rows, []any{&id, &k.Type, &k.Key, &k.Comment}, func() error {
		keys[id] = append(keys[id], k)
		return nil
	})
	return keys, err
}

// List returns every account, ordered by id.
func (d *DB) List() ([]account.Account, error) {
	var list []account.Account
	err := d.call(func(ctx context.Context) error {
		rows, err := d.pool.Query(ctx, `SELECT `+columns+` FROM accounts ORDER BY id`)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Account, error) { return scan(r) })
		if err != nil {
			return err
		}
		keys, err := readKeys(ctx, d.pool, "")
		for i := range list {
			list[i].Keys = keys[list[i].ID]
		}
		return err
	})
	if err != nil {
		return nil, d.fail("list accounts", err)
	}
	return list, nil
}

// ListAll is List: PostgreSQL has no unreadable records to skip.
func (d *DB) ListAll() ([]account.Account, error) { return d.List() }

// Create stores a new account as package db's Create does: it normalises a.Name and a.Home (an
// empty home means the name), checks the quotas and the password hash, assigns a fresh id and the
// creation time, and returns what was stored. It fails with account.ErrExists for a taken name and
// account.ErrHomeTaken when the home is the same as, inside, or around another account's home.
func (d *DB) Create(a account.Account) (account.Account, error) {
	a, err := account.Normalize(a)
	if err != nil {
		return a, err
	}
	a.Created = time.Now().UTC().Truncate(time.Second)
	err = d.tx(func(ctx context.Context, tx pgx.Tx) error {
		if err := takeHome(ctx, tx, a.Home, a.Name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `INSERT INTO accounts (name, password_hash, home, quota, max_files, created, disabled)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			a.Name, a.PasswordHash, a.Home, a.Quota, a.MaxFiles, a.Created, a.Disabled).Scan(&a.ID)
		if isUnique(err, "accounts_name_key") {
			return fmt.Errorf("%w: %q", account.ErrExists, a.Name)
		}
		if err != nil {
			return err
		}
		return writeKeys(ctx, tx, a.ID, a.Keys)
	})
	if err != nil {
		return a, d.fail("create account "+a.Name, err)
	}
	d.cache.invalidate()
	return a, nil
}

// takeHome takes the homes lock for the rest of the transaction and fails with
// account.ErrHomeTaken if home is the same as, inside or around the home of an account other than
// self.
func takeHome(ctx context.Context, tx pgx.Tx, home, self string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(homesLock)); err != nil {
		return err
	}
	var other, otherHome string
	err := tx.QueryRow(ctx, `SELECT name, home FROM accounts
		WHERE name <> $2 AND (home = $1 OR starts_with(home, $1 || '/') OR starts_with($1, home || '/'))
		LIMIT 1`, home, self).Scan(&other, &otherHome)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %q overlaps %q of account %q", account.ErrHomeTaken, home, otherHome, other)
}

// writeKeys replaces the keys of the account id with keys.
func writeKeys(ctx context.Context, tx pgx.Tx, id int64, keys []account.Key) error {
	if _, err := tx.Exec(ctx, `DELETE FROM ssh_keys WHERE account_id = $1`, id); err != nil {
		return err
	}
	for i, k := range keys {
		if _, err := tx.Exec(ctx, `INSERT INTO ssh_keys (account_id, position, type, key, comment) VALUES ($1, $2, $3, $4, $5)`,
			id, i, k.Type, k.Key, k.Comment); err != nil {
			return err
		}
	}
	return nil
}

// isUnique reports whether err is a violation of the unique constraint named constraint.
func isUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// Update applies fn to the stored account called name and stores the result, in one transaction
// that holds the account's row: fn must not change the id or the name; a changed home is checked
// as in Create. An error from fn cancels the change and is returned as it is.
func (d *DB) Update(name string, fn func(*account.Account) error) (account.Account, error) {
	n, err := account.NormalizeName(name)
	if err != nil {
		return account.Account{}, fmt.Errorf("%w %q", account.ErrNotFound, name)
	}
	var a account.Account
	var fnErr error
	err = d.tx(func(ctx context.Context, tx pgx.Tx) error {
		old, err := get(ctx, tx, n, "FOR UPDATE")
		if err != nil {
			return err
		}
		a = old
		a.Keys = slices.Clone(old.Keys)
		if fnErr = fn(&a); fnErr != nil {
			return fnErr
		}
		return update(ctx, tx, old, &a)
	})
	if fnErr != nil {
		return a, fnErr
	}
	if err != nil {
		return a, d.fail("update account "+n, err)
	}
	d.cache.invalidate()
	return a, nil
}

// update stores a, the changed old.
func update(ctx context.Context, tx pgx.Tx, old account.Account, a *account.Account) error {
	if a.ID != old.ID || a.Name != old.Name {
		return fmt.Errorf("update %q: id and name cannot change", old.Name)
	}
	if err := account.CheckQuota(a.Quota); err != nil {
		return err
	}
	if err := account.CheckMaxFiles(a.MaxFiles); err != nil {
		return err
	}
	if a.Home != old.Home {
		var err error
		if a.Home, err = account.NormalizeHome(a.Home); err != nil {
			return err
		}
		if err := takeHome(ctx, tx, a.Home, a.Name); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = $2, home = $3, quota = $4, max_files = $5, disabled = $6
		WHERE id = $1`, a.ID, a.PasswordHash, a.Home, a.Quota, a.MaxFiles, a.Disabled)
	if err != nil || slices.Equal(a.Keys, old.Keys) {
		return err
	}
	return writeKeys(ctx, tx, a.ID, a.Keys)
}

// Delete removes the account called name, with its keys, and returns what it was. Its id is not
// reused, and its home is left alone: removing files is the caller's decision.
func (d *DB) Delete(name string) (account.Account, error) {
	n, err := account.NormalizeName(name)
	if err != nil {
		return account.Account{}, fmt.Errorf("%w %q", account.ErrNotFound, name)
	}
	var a account.Account
	err = d.tx(func(ctx context.Context, tx pgx.Tx) error {
		if a, err = get(ctx, tx, n, "FOR UPDATE"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, a.ID)
		return err
	})
	if err != nil {
		return a, d.fail("delete account "+n, err)
	}
	d.cache.invalidate()
	return a, nil
}
