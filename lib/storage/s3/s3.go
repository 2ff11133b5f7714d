// Package s3 stores homes in an S3-compatible object store (MinIO, SeaweedFS, Ceph RGW, AWS S3)
// through minio-go. It implements package storage's Backend.
//
// Layout, under the bucket and an optional prefix: a home is the key prefix "HOME/", marked by
// the empty object "HOME/"; a file is the object "HOME/NAME"; a directory is the prefix
// "HOME/NAME/", marked by the empty object "HOME/NAME/" (a directory that holds objects needs no
// marker: one made by another S3 client is a directory too). Keys are built only from names that
// storage.CheckName accepts, joined under the home's prefix with a separator, so no name can
// address another home's prefix. The server's own records live under "HOME/.myftp/", which no
// listing shows and no user name reaches.
//
// An upload goes to the store as one PUT when it is smaller than a part, and otherwise as a
// multipart upload of the target's key: the object appears, whole, only when the upload is
// completed (Publish). A description of an unfinished multipart upload ("HOME/.myftp/partial/ID")
// lets any node sharing the bucket resume it from its last whole part. A file's modification time
// is kept in its metadata (x-amz-meta-mtime); renames are a server-side copy then a delete.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/myftp/myftp/lib/storage"
)

// Options configure a Backend.
type Options struct {
	// Endpoint is the store's URL: "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000".
	Endpoint string
	// Bucket holds every home; it must exist.
	Bucket string
	// Region is the bucket's region; empty lets the client ask the store.
	Region string
	// Prefix is put before every key ("myftp/" keeps the homes under "myftp/"); may be empty.
	Prefix string
	// PathStyle addresses the bucket in the path (http://host/bucket/key), as MinIO and most
	// stores other than AWS need; otherwise the client decides (virtual hosts on AWS).
	PathStyle bool
	// Credentials sign the requests; nil takes them from the standard AWS environment variables
	// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else from the shared
	// credentials file (~/.aws/credentials, AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE).
	Credentials *credentials.Credentials
	// PartSize is the size of an upload's parts: the unit a resume starts from, and the memory
	// each upload in progress holds. Zero means 16 MiB; at least 5 MiB (the S3 minimum).
	PartSize int64
	// MaxRenameObjects is the most objects a directory rename copies; a bigger directory is
	// refused. Zero means 1,000.
	MaxRenameObjects int
	// MaxRetries is how many times a request that failed for the network or a server error is
	// sent again, with a backoff of up to a second; zero means minio-go's default (10). A request
	// cut by its deadline is not sent again: the deadlines below bound the retries too.
	MaxRetries int
	// RequestTimeout bounds a request that carries no file data (a HEAD, a page of a listing, a
	// record, the start, completion or abortion of a multipart upload, a copy), its retries
	// included: one not answered in time fails with ErrTimeout. A copy or a completion gets it
	// once per started 5 GiB of the file. Zero means 1 minute.
	RequestTimeout time.Duration
	// StallTimeout cuts a transfer (a part, the single PUT of a small file, a GET stream) when no
	// byte of it has moved for this long while the backend waits on the store, however long the
	// whole transfer takes; it fails with ErrTimeout. Zero means 1 minute.
	StallTimeout time.Duration
	// Transport, if set, carries the requests (tests).
	Transport http.RoundTripper
}

// MinPartSize is the smallest part S3 accepts (but for an upload's last).
const MinPartSize = 5 << 20

// Backend is a storage.Backend on one bucket.
type Backend struct {
	client *minio.Client
	core   minio.Core
	bucket string
	prefix string // "" or ending in "/"
	opts   Options
}

// New returns a Backend for the bucket opts.Bucket. It sends no request: a store that cannot be
// reached fails the first operation, with storage.ErrUnavailable.
func New(opts Options) (*Backend, error) {
	u, err := url.Parse(opts.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("s3: endpoint %q: want http(s)://HOST[:PORT]", opts.Endpoint)
	}
	if opts.Bucket == "" {
		return nil, errors.New("s3: no bucket")
	}
	if opts.PartSize == 0 {
		opts.PartSize = 16 << 20
	}
	if opts.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3: part size %d is below the S3 minimum of %d bytes", opts.PartSize, MinPartSize)
	}
	if opts.MaxRenameObjects <= 0 {
		opts.MaxRenameObjects = 1000
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = time.Minute
	}
	if opts.StallTimeout <= 0 {
		opts.StallTimeout = time.Minute
	}
	creds := opts.Credentials
	if creds == nil {
		creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}})
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds:        creds,
		Secure:       u.Scheme == "https",
		Region:       opts.Region,
		BucketLookup: lookup,
		Transport:    opts.Transport,
		MaxRetries:   opts.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	prefix := strings.Trim(opts.Prefix, "/")
	if prefix != "" {
		if err := storage.CheckName(prefix); err != nil {
			return nil, fmt.Errorf("s3: prefix %q: %w", opts.Prefix, err)
		}
		prefix += "/"
	}
	return &Backend{client: client, core: minio.Core{Client: client}, bucket: opts.Bucket, prefix: prefix, opts: opts}, nil
}

// Caps: renames copy, object by object; data comes in order; resumes start at a part.
func (b *Backend) Caps() storage.Caps {
	return storage.Caps{MaxRenameObjects: b.opts.MaxRenameObjects, ResumeUnit: b.opts.PartSize}
}

// Close releases idle connections.
func (b *Backend) Close() error {
	if t, ok := b.opts.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// OpenHome opens the home, marking it with its empty object when create is set and it is new.
func (b *Backend) OpenHome(ctx context.Context, home string, create bool) (storage.Home, error) {
	h, err := b.home(home)
	if err != nil {
		return nil, err
	}
	_, err = b.statObject(ctx, h.root)
	if err == nil {
		return h, nil
	}
	if kind := classify(err); kind != storage.ErrNotExist {
		return nil, pathErr("open home", home, err)
	}
	if has, err := h.hasAny(ctx, h.root); err != nil {
		return nil, pathErr("open home", home, err)
	} else if has {
		return h, nil
	}
	if !create {
		return nil, pathErr("open home", home, storage.ErrNotExist)
	}
	if err := h.putEmpty(ctx, h.root, time.Time{}); err != nil {
		return nil, pathErr("create home", home, err)
	}
	return h, nil
}

func (b *Backend) home(home string) (*Home, error) {
	if err := storage.CheckName(home); err != nil || home == "." {
		return nil, &fs.PathError{Op: "open home", Path: home, Err: storage.ErrInvalid}
	}
	return &Home{b: b, name: home, root: b.prefix + home + "/"}, nil
}

// RemoveHome deletes every object under the home's prefix and aborts its unfinished uploads.
func (b *Backend) RemoveHome(ctx context.Context, home string) error {
	h, err := b.home(home)
	if err != nil {
		return err
	}
	// The uploads its manifests name, then any other under its prefix, where the store lists
	// them by prefix (MinIO lists multipart uploads of one key only).
	var ids []string
	if err := h.Partials(ctx, func(ps []storage.PartialInfo) error {
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		return nil
	}); err != nil {
		return pathErr("remove home", home, err)
	}
	for _, id := range ids {
		if err := h.RemovePartial(ctx, id); err != nil && !errors.Is(err, storage.ErrNotExist) {
			return pathErr("remove home", home, err)
		}
	}
	if err := h.abortUploads(ctx, h.root, time.Time{}); err != nil {
		return pathErr("remove home", home, err)
	}
	if err := b.removeAll(ctx, h.root); err != nil {
		return pathErr("remove home", home, err)
	}
	return nil
}

// classify returns the storage error kind of an error from the store, or nil when it has none.
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, kind := range []error{storage.ErrNotExist, storage.ErrExist, storage.ErrInvalid, storage.ErrNotDir,
		storage.ErrIsDir, storage.ErrNotEmpty, storage.ErrTooMany, storage.ErrUnavailable} {
		if errors.Is(err, kind) {
			return kind
		}
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchKey", "NoSuchUpload", "NotFound", "PreconditionFailed":
		return storage.ErrNotExist
	case "InvalidPart", "InvalidPartOrder", "EntityTooSmall":
		return storage.ErrInvalid
	}
	var ne net.Error
	if resp.StatusCode >= 500 || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return storage.ErrUnavailable
	}
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusPreconditionFailed {
		return storage.ErrNotExist
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return storage.ErrUnavailable
	}
	return nil
}

// pathErr wraps err for the operation op on name, with its storage kind when it has one.
func pathErr(op, name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	if kind := classify(err); kind != nil && !errors.Is(err, kind) {
		err = fmt.Errorf("%w: %w", kind, err)
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// parentOf is the directory holding name ("." at the top).
func parentOf(name string) string { return path.Dir(name) }
