// Package accounts opens the account database that the settings choose ([accounts] backend): the
// db/ files of package db, for one server, or PostgreSQL (package pgdb), which several servers
// share. Both keep the same contract; myftps and create_user work on either through Store.
package accounts

import (
	"context"
	"fmt"

	"github.com/myftp/myftp/conf"
	"github.com/myftp/myftp/lib/account"
	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/pgdb"
)

// Store is an account database: *db.DB or *pgdb.DB. Its errors are package account's.
type Store interface {
	// Get returns the account called name (normalised first), or an error wrapping
	// account.ErrNotFound.
	Get(name string) (account.Account, error)
	// Create stores a new account with a fresh id and returns what was stored.
	Create(a account.Account) (account.Account, error)
	// Update applies fn to the stored account called name and stores the result at once.
	Update(name string, fn func(*account.Account) error) (account.Account, error)
	// Delete removes the account called name and returns what it was; its id is never reused.
	Delete(name string) (account.Account, error)
	// List returns the accounts ordered by id, skipping records that cannot be read.
	List() ([]account.Account, error)
	// ListAll is List that fails at a record that cannot be read.
	ListAll() ([]account.Account, error)
	// Where names the database for people.
	Where() string
	// Close releases the database.
	Close()
}

// Open opens the account database of the settings s. With the files backend it creates the
// directory if needed (created reports it); with PostgreSQL it connects and migrates the schema.
func Open(ctx context.Context, s *conf.Settings) (st Store, created bool, err error) {
	switch s.Accounts.Backend {
	case "postgres":
		d, err := pgdb.Open(ctx, pgdb.Options{DSN: s.Accounts.DSN, Timeout: s.Accounts.Timeout.D()})
		if err != nil {
			return nil, false, fmt.Errorf("accounts: %w", err)
		}
		return d, false, nil
	default:
		created := !db.Exists(s.Storage.DBDir)
		d, err := db.Open(s.Storage.DBDir)
		if err != nil {
			return nil, false, err
		}
		return d, created, nil
	}
}
