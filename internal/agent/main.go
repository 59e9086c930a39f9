package agent

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Main is the wwclient command: it parses args, runs until ctx ends (or
// once) and returns the exit status.
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	fl := flag.NewFlagSet("wwclient", flag.ContinueOnError)
	fl.SetOutput(stderr)
	once := fl.Bool("once", false, "contact the server once, apply the overlay and exit")
	debug := fl.Bool("debug", false, "log debug messages")
	fl.BoolVar(debug, "d", false, "same as --debug")
	conf := fl.String("config", "/warewulf/wwclient.conf", "configuration rendered by the wwclient overlay")
	root := fl.String("root", "/", "directory the runtime overlay is applied to")
	stateFile := fl.String("state", "", "state file (default <root>/warewulf/wwclient.state)")
	cmdline := fl.String("cmdline", "/proc/cmdline", "kernel command line holding wwid=")
	dmi := fl.String("dmi", "/sys/class/dmi/id", "SMBIOS directory (asset tag, UUID)")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: wwclient [OPTIONS]\n\nKeeps the node's runtime overlay up to date and reports to the provisioning server.\n\n")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "wwclient: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := LoadConfig(*conf, Sources{Getenv: getenv, Cmdline: *cmdline, SysClassNet: "/sys/class/net", DMIDir: *dmi})
	if err != nil {
		log.Error("wwclient: " + err.Error())
		return 1
	}
	refresh := make(chan os.Signal, 1)
	signal.Notify(refresh, syscall.SIGHUP)
	defer signal.Stop(refresh)
	a, err := New(Options{Config: cfg, Root: *root, StateFile: *stateFile, Log: log, Refresh: refresh})
	if err != nil {
		log.Error("wwclient: " + err.Error())
		return 1
	}
	if *once {
		if _, err := a.Sync(ctx); err != nil {
			log.Error("wwclient: " + err.Error())
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := a.Run(ctx); err != nil {
		log.Error("wwclient: " + err.Error())
		return 1
	}
	return 0
}
