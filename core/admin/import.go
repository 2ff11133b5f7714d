package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/myftp/myftp/lib/db"
	"github.com/myftp/myftp/lib/pgdb"
)

func defineFrom(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.from, "from", o.from, "the account directory to copy (default: db_dir of the settings)")
}

// importFiles copies the accounts of a db/ directory into the PostgreSQL database the settings
// name, keeping their ids, hashes, quotas and keys. It changes nothing in the directory; a second
// run adds nothing, and a clash adds nothing at all.
func (a *app) importFiles(ctx context.Context, o *options, _ []string) error {
	e, err := a.loadEnv(ctx, o)
	if err != nil {
		return err
	}
	pg, ok := e.accounts.(*pgdb.DB)
	if !ok {
		return errors.New(`import copies accounts into PostgreSQL: set backend = "postgres" in [accounts] of the settings first`)
	}
	from := e.settings.Storage.DBDir
	if o.from != "" {
		from = o.from // as given: relative to the current directory, as any path on a command line
	}
	if !db.Exists(from) {
		return fmt.Errorf("no account files in %s", from)
	}
	files, err := db.Open(from)
	if err != nil {
		return err
	}
	list, err := files.ListAll()
	if err != nil {
		return fmt.Errorf("%w: nothing imported; '%s check' on that root shows what to fix", err, progName)
	}
	last, err := files.LastID()
	if err != nil {
		return fmt.Errorf("%w: nothing imported", err)
	}
	added, err := pg.Import(list, last)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "imported %s from %s into the %s (%d already there)\n",
		count(added, "account"), from, pg.Where(), len(list)-added)
	return nil
}
