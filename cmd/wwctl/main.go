// Command wwctl administers the cluster; see "wwctl --help".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/wwboot/wwboot/internal/cli"
	"github.com/wwboot/wwboot/internal/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version string

func main() {
	// "wwctl image exec" re-runs this program inside the image's
	// namespaces; that child never returns from here.
	if sandbox.Child() {
		return
	}
	args := os.Args[1:]
	// Installed as warewulfd (a link), it is the daemon, as Warewulf's
	// unit runs it.
	if filepath.Base(os.Args[0]) == "warewulfd" {
		args = append([]string{"server"}, args...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, args, cli.Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Version: version,
	})
	stop()
	var exit *cli.ExitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.Code)
	case err != nil:
		fmt.Fprintf(os.Stderr, "wwctl: %v\n", err)
		os.Exit(1)
	}
}
