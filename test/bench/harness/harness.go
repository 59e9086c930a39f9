// Package harness holds what the benchmark programs share.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// BuildWwctl builds ./cmd/wwctl of the enclosing module into path, and
// wwclient beside it, where wwctl finds the binary the wwclient overlay
// ships (static, as make build makes it).
func BuildWwctl(ctx context.Context, path string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return errors.New("not inside a Go module: run from the repository or give -wwctl")
	}
	for _, b := range []struct{ pkg, out, cgo string }{
		{"./cmd/wwctl", path, "CGO_ENABLED=0"}, // as make build
		{"./cmd/wwclient", filepath.Join(filepath.Dir(path), "wwclient"), "CGO_ENABLED=0"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if b.cgo != "" {
			cmd.Env = append(os.Environ(), b.cgo)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// Workspace makes a temporary directory for a bench named prefix and,
// unless wwctl names one, builds wwctl (and wwclient) into it; it returns
// the directory, the wwctl to run, and done, which removes the directory
// or, with keep, says on out where it was kept.
func Workspace(ctx context.Context, prefix, wwctl string, keep bool, out io.Writer) (dir, bin string, done func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", nil, err
	}
	done = func() { os.RemoveAll(dir) }
	if keep {
		done = func() { fmt.Fprintf(out, "kept %s\n", dir) }
	}
	if wwctl == "" {
		wwctl = filepath.Join(dir, "wwctl")
		if err := BuildWwctl(ctx, wwctl); err != nil {
			done()
			return "", "", nil, err
		}
	}
	return dir, wwctl, done, nil
}

// Verdict is a bench row's result column: "ok" when its target is met,
// else "MISSED".
func Verdict(met bool) string {
	if met {
		return "ok"
	}
	return "MISSED"
}

// Tail returns the last 4,000 bytes of data, for error messages.
func Tail(data []byte) string {
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// TailFile is Tail of the file at p ("" when it cannot be read).
func TailFile(p string) string {
	data, _ := os.ReadFile(p)
	return Tail(data)
}

// Median returns the middle of v (the mean of the two middles when
// even), 0 when v is empty.
func Median[T ~int64 | ~float64](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	switch {
	case len(s) == 0:
		return 0
	case len(s)%2 == 1:
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Pipeline runs commands in dir with each one's stdout piped into the
// next one's stdin, the last one's going to /dev/null. A failure carries
// the failing commands' lines and stderr.
func Pipeline(ctx context.Context, dir string, argvs [][]string) error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	cmds := make([]*exec.Cmd, len(argvs))
	stderrs := make([]bytes.Buffer, len(argvs))
	for i, argv := range argvs {
		cmds[i] = exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmds[i].Dir = dir
		cmds[i].Stderr = &stderrs[i]
	}
	var pipes []*os.File
	for i := range len(cmds) - 1 {
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		cmds[i].Stdout, cmds[i+1].Stdin = w, r
		pipes = append(pipes, r, w)
	}
	cmds[len(cmds)-1].Stdout = null
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			return err
		}
	}
	// The children hold their own ends now.
	for _, p := range pipes {
		p.Close()
	}
	var errs []error
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w: %s", strings.Join(argvs[i], " "), err, strings.TrimSpace(stderrs[i].String())))
		}
	}
	return errors.Join(errs...)
}

// FmtDur prints d in seconds or milliseconds.
func FmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// Main runs a benchmark program's run with its arguments and standard
// output, cancelled by SIGINT or SIGTERM, and exits 1 with the error
// prefixed by name when it fails.
func Main(name string, run func(ctx context.Context, args []string, out io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
