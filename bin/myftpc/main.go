// Command myftpc is the myftp client shell. Run "myftpc --help" for its usage; the program itself
// is package shell.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/myftp/myftp/core/shell"
	"github.com/myftp/myftp/lib/profile"
)

func main() {
	// SIGTERM ends the run; SIGINT (Ctrl-C) is handled by the shell, where it stops a transfer.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	prof := profile.Start(os.Getenv, os.Stderr) // MYFTP_CPUPROFILE, MYFTP_MEMPROFILE, MYFTP_TRACE
	code := shell.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	prof()
	stop()
	os.Exit(code)
}
