package s3_test

import (
	"testing"

	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/storagetest"
)

// TestConformance runs the storage suite on a bucket, every backend of it a node of its own.
func TestConformance(t *testing.T) {
	opts := bucket(t)
	opts.Prefix = "myftp"
	storagetest.Run(t, func(t *testing.T) storage.Backend { return open(t, opts) })
}
