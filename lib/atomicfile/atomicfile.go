// Package atomicfile replaces files so that a reader, or the file system after a crash, sees either
// the whole old content or the whole new content, never a mix.
//
// The steps are: create a temporary file in the same directory, write, fsync, rename over the
// target, fsync the directory. A crash leaves at most a temporary file named ".NAME.tmp-*" beside
// the target; TempPattern lets callers recognise and clean such leftovers.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// TempPrefix starts the name of every temporary file this package creates.
const TempPrefix = "."

// TempMarker is in the name of every temporary file this package creates.
const TempMarker = ".tmp-"

// IsTemp reports whether name (a base name) looks like a temporary file of this package.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, TempPrefix) && strings.Contains(name, TempMarker)
}

// WriteFile atomically replaces path with data and sets its mode to perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, os.Rename, func(step) bool { return false })
}

// Create atomically creates path with data and mode perm, and fails with an error matching
// fs.ErrExist if path exists: of several processes creating the same file at once, exactly one
// succeeds, and no reader sees the file incomplete. (The file is published with a hard link
// instead of a rename.)
func Create(path string, data []byte, perm os.FileMode) error {
	link := func(tmp, path string) error {
		if err := os.Link(tmp, path); err != nil {
			return err
		}
		return os.Remove(tmp)
	}
	return writeFile(path, data, perm, link, func(step) bool { return false })
}

// step names the points at which a crash is simulated in tests.
type step int

const (
	afterCreate step = iota
	afterWrite
	afterSync
	afterRename
)

// writeFile writes data to a temporary file and publishes it at path (a rename, or a link). Its
// hook, returning true, abandons the write at that step as a crash would (the temporary file is
// left behind).
func writeFile(path string, data []byte, perm os.FileMode, publish func(tmp, path string) error, crash func(step) bool) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, TempPrefix+base+TempMarker+"*")
	if err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if crash(afterCreate) {
		return nil
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if crash(afterWrite) {
		return nil
	}
	if err := f.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("atomic write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("atomic write %s: close: %w", path, err)
	}
	if crash(afterSync) {
		return nil
	}
	if err := publish(tmp, path); err != nil {
		return fmt.Errorf("atomic write %s: %w", path, err)
	}
	if crash(afterRename) {
		return nil
	}
	return SyncDir(dir)
}

// SyncDir flushes a directory's entries (a rename or a new file in it) to stable storage. It is a
// no-op on Windows, which cannot open directories for syncing.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
