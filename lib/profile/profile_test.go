package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestProfilesWritten: both profiles are written, in pprof's format (gzip-compressed protobuf).
func TestProfilesWritten(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{CPUEnv: filepath.Join(dir, "cpu"), MemEnv: filepath.Join(dir, "mem")}
	var out bytes.Buffer
	stop := Start(func(k string) string { return env[k] }, &out)
	stop()
	if out.Len() > 0 {
		t.Fatalf("reported: %s", out.String())
	}
	for _, f := range env {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			t.Fatalf("%s is not a pprof profile: % x", f, data[:min(len(data), 8)])
		}
	}
}

// TestBadFileReported: a profile that cannot be written is said, and the program goes on.
func TestBadFileReported(t *testing.T) {
	var out bytes.Buffer
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "cpu")
	Start(func(k string) string { return map[string]string{CPUEnv: bad, MemEnv: bad}[k] }, &out)()
	if !bytes.Contains(out.Bytes(), []byte(CPUEnv)) || !bytes.Contains(out.Bytes(), []byte(MemEnv)) {
		t.Fatalf("reported %q, want both variables named", out.String())
	}
}

func TestNothingAsked(t *testing.T) {
	var out bytes.Buffer
	Start(func(string) string { return "" }, &out)()
	if out.Len() > 0 {
		t.Fatalf("reported: %s", out.String())
	}
}
