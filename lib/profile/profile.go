// Package profile writes CPU and heap profiles of a whole program run when the environment asks
// for them, so that each side of a real transfer (myftps, myftpc) can be profiled as users run
// it: MYFTP_CPUPROFILE=FILE records the CPU profile of the run, MYFTP_MEMPROFILE=FILE the heap
// profile at its end. Read them with `go tool pprof BINARY FILE`.
package profile

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// Environment variables that name the profile files.
const (
	CPUEnv = "MYFTP_CPUPROFILE"
	MemEnv = "MYFTP_MEMPROFILE"
)

// Start starts the profiles that getenv names and returns the function that ends them; call it
// before the program exits. Problems are reported to w and do not stop the program.
func Start(getenv func(string) string, w io.Writer) (stop func()) {
	cpu, mem := getenv(CPUEnv), getenv(MemEnv)
	var cpuFile *os.File
	if cpu != "" {
		f, err := os.Create(cpu)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(w, "profile: %s: %v\n", CPUEnv, err)
		} else {
			cpuFile = f
		}
	}
	return func() {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
		if mem != "" {
			if err := writeHeap(mem); err != nil {
				fmt.Fprintf(w, "profile: %s: %v\n", MemEnv, err)
			}
		}
	}
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
