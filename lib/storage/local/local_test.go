package local_test

import (
	"testing"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/local"
	"github.com/myftp/myftp/lib/storage/storagetest"
)

// The local disk passes the conformance suite, each call of open a new Backend on the same base
// directory, as a second server on the same disk would be.
func TestConformance(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	storagetest.Run(t, func(t *testing.T) storage.Backend { return local.New(base, local.Options{}) })
}

// With Fsync, the same: Sync and Publish go through package durable.
func TestConformanceFsync(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	storagetest.Run(t, func(t *testing.T) storage.Backend { return local.New(base, local.Options{Fsync: true}) })
}

// Without extended attributes (some filesystems, and every platform but Linux and macOS), records
// live in files of .myftp/records, and must still follow their files.
func TestConformanceNoXattrs(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	storagetest.Run(t, func(t *testing.T) storage.Backend { return local.New(base, local.Options{NoXattrs: true}) })
}
