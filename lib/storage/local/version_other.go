//go:build !unix

package local

import "io/fs"

// version is "" where FileInfo carries no file identity: records then rely on size and time.
func version(fs.FileInfo) string { return "" }
