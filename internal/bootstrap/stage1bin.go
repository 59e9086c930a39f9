package bootstrap

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	var out []string
	if exe != "" {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, "wwstage1"),
			filepath.Join(dir, "..", "lib", "wwboot", "wwstage1"),
			filepath.Join(dir, "..", "libexec", "wwboot", "wwstage1"))
	}
	for _, p := range []string{"/usr/lib/wwboot/wwstage1", "/usr/libexec/wwboot/wwstage1"} {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// FindStage1 returns the first of paths that is a regular file.
func FindStage1(paths []string) (string, error) {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("no stage-one program: build it (make build writes bin/wwstage1) or install it; looked in %s",
		strings.Join(paths, ", "))
}
