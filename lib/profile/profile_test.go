package profile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestProfilesWritten: both profiles are written, in pprof's format (gzip-compressed protobuf),
// and the trace in the runtime's trace format.
func TestProfilesWritten(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{CPUEnv: filepath.Join(dir, "cpu"), MemEnv: filepath.Join(dir, "mem"), TraceEnv: filepath.Join(dir, "trace")}
	var out bytes.Buffer
	stop := Start(func(k string) string { return env[k] }, &out)
	stop()
	if out.Len() > 0 {
		t.Fatalf("reported: %s", out.String())
	}
	for k, f := range env {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		magic := []byte{0x1f, 0x8b}
		if k == TraceEnv {
			magic = []byte("go 1.")
		}
		if !bytes.HasPrefix(data, magic) {
			t.Fatalf("%s does not start as a %s file should: % x", f, k, data[:min(len(data), 8)])
		}
	}
}

// TestBadFileReported: a profile that cannot be written is said, and the program goes on.
func TestBadFileReported(t *testing.T) {
	var out bytes.Buffer
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "cpu")
	Start(func(k string) string { return map[string]string{CPUEnv: bad, MemEnv: bad, TraceEnv: bad}[k] }, &out)()
	for _, env := range []string{CPUEnv, MemEnv, TraceEnv} {
		if !bytes.Contains(out.Bytes(), []byte(env)) {
			t.Fatalf("reported %q, want %s named", out.String(), env)
		}
	}
}

func TestNothingAsked(t *testing.T) {
	var out bytes.Buffer
	Start(func(string) string { return "" }, &out)()
	if out.Len() > 0 {
		t.Fatalf("reported: %s", out.String())
	}
}
