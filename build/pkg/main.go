// Command pkg installs wwboot ("make install") and builds its deb and rpm
// packages ("make deb", "make rpm") from what "make build" wrote in bin/.
//
//	pkg install -destdir DIR -prefix /usr
//	pkg deb|rpm -out dist -describe "$(git describe --tags --always --dirty)" -commits N
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pkg: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("want a command: install, deb or rpm")
	}
	cmd := args[0]
	fl := flag.NewFlagSet(cmd, flag.ContinueOnError)
	src := fl.String("src", "../..", "the source tree")
	bin := fl.String("bin", "../../bin", "what make build wrote")
	prefix := fl.String("prefix", "/usr", "where programs and data go")
	destdir := fl.String("destdir", "", "install under this directory (install)")
	out := fl.String("out", "../../dist", "where the package goes (deb, rpm)")
	describe := fl.String("describe", "", "git describe --tags --always --dirty (deb, rpm)")
	commits := fl.Int("commits", 0, "commits in the history, for a version without a tag (deb, rpm)")
	version := fl.String("version", "", "the package version as is, instead of -describe")
	epoch := fl.String("epoch", getenv("SOURCE_DATE_EPOCH"), "the files' time, seconds since 1970 (default $SOURCE_DATE_EPOCH)")
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	opts := TreeOptions{Src: *src, Bin: *bin, Prefix: filepath.Clean(*prefix), Sysconfdir: "/etc",
		Localstatedir: "/var/lib", Ipxesource: "/usr/lib/ipxe"}
	if !filepath.IsAbs(opts.Prefix) {
		return fmt.Errorf("-prefix %q: want an absolute path", *prefix)
	}
	if *epoch != "" {
		sec, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("-epoch %q: want seconds since 1970", *epoch)
		}
		opts.Epoch = time.Unix(sec, 0).UTC()
	} else if cmd != "install" {
		return fmt.Errorf("-epoch or SOURCE_DATE_EPOCH is needed: the packages' file times")
	} else {
		opts.Epoch = time.Now().UTC()
	}
	switch cmd {
	case "install":
		entries, err := Tree(ctx, opts)
		if err != nil {
			return err
		}
		return Install(*destdir, entries, os.Stdout)
	case "deb", "rpm":
		v := *version
		if v == "" {
			var err error
			if v, err = PackageVersion(*describe, *commits); err != nil {
				return err
			}
		}
		if cmd == "rpm" {
			// Enterprise Linux's ipxe-bootimgs put the binaries here.
			opts.Ipxesource = "/usr/share/ipxe"
		}
		entries, err := Tree(ctx, opts)
		if err != nil {
			return err
		}
		tmp, err := os.MkdirTemp("", "wwboot-pkg-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		staged, scripts := filepath.Join(tmp, "root"), filepath.Join(tmp, "scripts")
		if err := os.Mkdir(scripts, 0o755); err != nil {
			return err
		}
		if err := Install(staged, entries, os.Stderr); err != nil {
			return err
		}
		info, err := Info(cmd, v, runtime.GOARCH, staged, entries, scripts, opts.Epoch)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return err
		}
		path := filepath.Join(*out, FileName(cmd, v, runtime.GOARCH))
		if err := Build(cmd, info, path); err != nil {
			return err
		}
		fmt.Println(path)
		return nil
	}
	return fmt.Errorf("unknown command %q: want install, deb or rpm", cmd)
}
