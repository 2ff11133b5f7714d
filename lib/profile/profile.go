// Package profile writes CPU and heap profiles and execution traces of a whole program run when
// the environment asks for them, so that each side of a real transfer (myftps, myftpc) can be
// profiled as users run it: MYFTP_CPUPROFILE=FILE records the CPU profile of the run,
// MYFTP_MEMPROFILE=FILE the heap profile at its end, MYFTP_TRACE=FILE the runtime's execution
// trace (where goroutines wait and what wakes them: what a CPU profile cannot show). Read the
// profiles with `go tool pprof BINARY FILE`, the trace with `go tool trace FILE`.
package profile

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// Environment variables that name the profile files.
const (
	CPUEnv   = "MYFTP_CPUPROFILE"
	MemEnv   = "MYFTP_MEMPROFILE"
	TraceEnv = "MYFTP_TRACE"
)

// Start starts the profiles that getenv names and returns the function that ends them; call it
// before the program exits. Problems are reported to w and do not stop the program.
func Start(getenv func(string) string, w io.Writer) (stop func()) {
	mem := getenv(MemEnv)
	cpuFile := startTo(getenv(CPUEnv), CPUEnv, pprof.StartCPUProfile, w)
	traceFile := startTo(getenv(TraceEnv), TraceEnv, trace.Start, w)
	return func() {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
		if traceFile != nil {
			trace.Stop()
			traceFile.Close()
		}
		if mem != "" {
			if err := writeHeap(mem); err != nil {
				fmt.Fprintf(w, "profile: %s: %v\n", MemEnv, err)
			}
		}
	}
}

// startTo creates the file name, if one is given, and starts writing into it with start; it
// returns the open file, or nil if nothing was asked or it failed (said to w, named by env).
func startTo(name, env string, start func(io.Writer) error, w io.Writer) *os.File {
	if name == "" {
		return nil
	}
	f, err := os.Create(name)
	if err == nil {
		if err = start(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(w, "profile: %s: %v\n", env, err)
		return nil
	}
	return f
}

func writeHeap(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	runtime.GC() // the heap as the program left it, not garbage
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
