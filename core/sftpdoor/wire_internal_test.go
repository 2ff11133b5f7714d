package sftpdoor

import (
	"io/fs"
	"testing"
)

// TestLsMode: the mode column of a listing's long names is ls -l's, for every kind of file a home
// may hold (links and special files only as an administrator made them), with the special bits
// where ls shows them; clients such as FileZilla and WinSCP read the type and the permissions
// from it.
func TestLsMode(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		want string
	}{
		{0o644, "-rw-r--r--"},
		{fs.ModeDir | 0o755, "drwxr-xr-x"},
		{fs.ModeSymlink | 0o777, "lrwxrwxrwx"},
		{fs.ModeSetuid | 0o755, "-rwsr-xr-x"},
		{fs.ModeSetuid | 0o644, "-rwSr--r--"},
		{fs.ModeSetgid | 0o755, "-rwxr-sr-x"},
		{fs.ModeDir | fs.ModeSticky | 0o777, "drwxrwxrwt"},
		{fs.ModeDir | fs.ModeSticky | 0o776, "drwxrwxrwT"},
		{fs.ModeNamedPipe | 0o644, "prw-r--r--"},
		{fs.ModeSocket | 0o755, "srwxr-xr-x"},
		{fs.ModeDevice | fs.ModeCharDevice | 0o666, "crw-rw-rw-"},
		{fs.ModeDevice | 0o660, "brw-rw----"},
		{0, "----------"},
	} {
		if got := lsMode(sftpMode(tc.mode)); got != tc.want {
			t.Errorf("%v (SFTP mode %#o): %q, want %q", tc.mode, sftpMode(tc.mode), got, tc.want)
		}
	}
}
