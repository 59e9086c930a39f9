// Command wwclient is the node agent: it keeps the node's runtime overlay
// up to date. It is built static (CGO_ENABLED=0) and shipped in the
// wwclient overlay at /warewulf/wwclient.
package main

import (
	"context"
	"os"

	"github.com/wwboot/wwboot/internal/agent"
)

func main() {
	os.Exit(agent.Main(context.Background(), os.Args[1:], os.Getenv, os.Stderr))
}
