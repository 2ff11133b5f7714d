// Package homes opens the storage backend that the settings name ([storage] backend): the
// directories under upload_dir on the local disk, or an S3-compatible object store. myftps serves
// the homes from it and create_user measures and removes them there.
package homes

import (
	"fmt"

	"github.com/myftp/myftp/conf"
	"github.com/myftp/myftp/lib/storage"
	"github.com/myftp/myftp/lib/storage/local"
	"github.com/myftp/myftp/lib/storage/s3"
)

// Backend returns the backend of the settings s. It sends no request: an object store that cannot
// be reached fails the first operation.
func Backend(s *conf.Settings) (storage.Backend, error) {
	if s.Storage.Backend != "s3" {
		return local.New(s.Storage.UploadDir, local.Options{Fsync: s.Storage.Fsync}), nil
	}
	c := s.Storage.S3
	b, err := s3.New(s3.Options{Endpoint: c.Endpoint, Bucket: c.Bucket, Region: c.Region, Prefix: c.Prefix,
		PathStyle: c.PathStyle, PartSize: int64(c.PartSize), MaxRenameObjects: c.MaxRenameObjects,
		RequestTimeout: c.RequestTimeout.D(), StallTimeout: c.StallTimeout.D(),
		MaxRetries: 3}) // a store that is down fails a session's request in seconds, not minutes
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	return b, nil
}

// Describe says where the homes of s live, for a program's first lines.
func Describe(s *conf.Settings) string {
	if s.Storage.Backend == "s3" {
		return fmt.Sprintf("homes on s3: bucket %s at %s", s.Storage.S3.Bucket, s.Storage.S3.Endpoint)
	}
	return "homes in " + s.Storage.UploadDir
}
