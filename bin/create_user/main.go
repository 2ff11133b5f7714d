// Command create_user creates and manages the accounts of a myftp server. Run "create_user help"
// for its usage; the program itself is package admin.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/myftp/myftp/core/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(admin.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
