package homefs_test

import (
	"testing"

	"github.com/myftp/myftp/lib/homefs"
	"github.com/myftp/myftp/lib/homefs/ledgertest"
)

// TestLedgerContract: the Store's own ledger keeps what every Ledger must.
func TestLedgerContract(t *testing.T) {
	t.Parallel()
	ledgertest.Run(t, homefs.NewLedger())
}
