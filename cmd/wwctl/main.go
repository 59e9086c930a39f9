// Command wwctl administers the cluster; see "wwctl --help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wwboot/wwboot/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version string

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args[1:], cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: version,
	})
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "wwctl: %v\n", err)
		os.Exit(1)
	}
}
