package pgdb

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrations are the schema's versions, N_title.up.sql, applied in order. A released file never
// changes: a change of the schema is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationsTable records the schema's version; golang-migrate's default name would be shared
// with any other program's migrations in the same database.
const migrationsTable = "myftp_schema_migrations"

// ErrSchema is a schema this program cannot use: newer than it knows, or left halfway by a
// migration that failed.
var ErrSchema = errors.New("pgdb: unusable schema")

// SchemaVersion is the version of the newest migration: the schema a DB has after Open.
const SchemaVersion = 5

// migrateSchema brings the schema to SchemaVersion. golang-migrate holds a PostgreSQL advisory lock
// while it works, so that of several nodes starting at once one applies each migration and the
// others wait for it; a schema newer than this program knows is refused.
func migrateSchema(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{MigrationsTable: migrationsTable})
	if err != nil {
		return err
	}
	src, err := iofs.New(migrations, "migrations")
	if err != nil {
		return err
	}
	m, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return err
	}
	defer m.Close()
	err = m.Up()
	if err == nil || errors.Is(err, migrate.ErrNoChange) {
		return nil
	}
	var dirty migrate.ErrDirty
	if errors.As(err, &dirty) {
		return fmt.Errorf("%w: migration %d failed halfway: repair the schema by hand, then its row in %s", ErrSchema, dirty.Version, migrationsTable)
	}
	if v, _, verr := m.Version(); verr == nil && v > SchemaVersion {
		return fmt.Errorf("%w: version %d, newer than this program's %d: update myftp", ErrSchema, v, SchemaVersion)
	}
	return err
}
