package bootstrap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/arch"
)

// Stage1Paths lists where the stage-one program is looked for, best
// first, for a wwctl executable at exe: next to it (bin/ after "make
// build"), ../lib/wwboot/ and ../libexec/wwboot/ from it, then
// /usr/lib/wwboot/wwstage1 and /usr/libexec/wwboot/wwstage1. A non-empty
// override (WWSTAGE1 in the environment) is the only path.
func Stage1Paths(exe, override string) []string {
	if override != "" {
		return []string{override}
	}
	return programPaths(exe, "wwstage1")
}

// Stage1PathsFor lists where the stage-one program for images of
// architecture a is looked for: wwstage1.<a> in the places Stage1Paths
// lists ("make build" writes bin/wwstage1.x86_64 and
// bin/wwstage1.aarch64), then, for the server's own architecture or an
// unknown one (""), wwstage1 itself. With an override (WWSTAGE1), the
// override is the program for the server's architecture and
// wwstage1.<a> beside it the one for a.
func Stage1PathsFor(exe, override, a string) []string {
	own := a == "" || a == arch.Host()
	if override != "" {
		if own {
			return []string{override}
		}
		return []string{filepath.Join(filepath.Dir(override), "wwstage1."+a)}
	}
	if a == "" {
		return programPaths(exe, "wwstage1")
	}
	out := programPaths(exe, "wwstage1."+a)
	if own {
		out = append(out, programPaths(exe, "wwstage1")...)
	}
	return out
}

func programPaths(exe, file string) []string {
	var out []string
	if exe != "" {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, file),
			filepath.Join(dir, "..", "lib", "wwboot", file),
			filepath.Join(dir, "..", "libexec", "wwboot", file))
	}
	for _, p := range []string{"/usr/lib/wwboot/" + file, "/usr/libexec/wwboot/" + file} {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// FindStage1 returns the first of paths that is a regular file.
func FindStage1(paths []string) (string, error) {
	return FindStage1For(paths, "")
}

// FindStage1For returns the first of paths that is a regular file, which
// must not be a program for another architecture than a (when a is not
// ""): a bootstrap whose stage one the node cannot run would boot into
// a kernel panic.
func FindStage1For(paths []string, a string) (string, error) {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if a != "" {
			if err := checkArch(p, a); err != nil {
				return "", err
			}
		}
		return p, nil
	}
	what, file := "", "wwstage1"
	if a != "" {
		what, file = " for "+a, "wwstage1."+a
	}
	return "", fmt.Errorf("no stage-one program%s: build it (make build writes bin/%s) or install it; looked in %s",
		what, file, strings.Join(paths, ", "))
}

// checkArch refuses an ELF program at p built for another architecture
// than a.
func checkArch(p, a string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := arch.FromELF(f)
	if errors.Is(err, arch.ErrNotELF) {
		return nil // not a program we can read the architecture of
	}
	if err != nil {
		return fmt.Errorf("stage-one program %s: %w", p, err)
	}
	if got != a {
		return fmt.Errorf("stage-one program %s is for %s, not %s", p, got, a)
	}
	return nil
}
