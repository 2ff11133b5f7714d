// Command myftps is the myftp server. See package serve for what it does and README.md for how to
// run it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/myftp/myftp/core/serve"
	"github.com/myftp/myftp/lib/profile"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	prof := profile.Start(os.Getenv, os.Stderr) // MYFTP_CPUPROFILE, MYFTP_MEMPROFILE, MYFTP_TRACE
	code := serve.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	prof()
	stop()
	os.Exit(code)
}
