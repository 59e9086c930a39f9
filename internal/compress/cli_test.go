package compress

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestCommandLineTools checks the output with the gzip and zstd commands:
// "-t" verifies it, and decompressing it gives the input back.
func TestCommandLineTools(t *testing.T) {
	in := mixedData(3*gzipBlockSize + 777)
	tests := []struct {
		tool   string
		format Format
		opts   Options
	}{
		{tool: "gzip", format: Gzip, opts: Options{Level: 1, Concurrency: 4}},
		{tool: "gzip", format: Gzip, opts: Options{Concurrency: 4}},
		{tool: "gzip", format: Gzip, opts: Options{Level: 9, Concurrency: 4}},
		{tool: "zstd", format: Zstd, opts: Options{Level: 1, Concurrency: 4}},
		{tool: "zstd", format: Zstd, opts: Options{Concurrency: 4}},
		{tool: "zstd", format: Zstd, opts: Options{Level: 19, Concurrency: 4}},
	}
	for _, tc := range tests {
		t.Run(tc.tool+" "+strings.TrimPrefix(tc.format.Ext(), ".")+" level "+strconv.Itoa(tc.opts.Level), func(t *testing.T) {
			bin, err := exec.LookPath(tc.tool)
			if err != nil {
				t.Skipf("%s not installed", tc.tool)
			}
			for name, data := range map[string][]byte{"empty": nil, "mixed": in} {
				path := filepath.Join(t.TempDir(), "archive"+tc.format.Ext())
				if err := os.WriteFile(path, compressBytes(t, data, tc.format, tc.opts, 0), 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command(bin, "-t", path).CombinedOutput(); err != nil {
					t.Fatalf("%s: %s -t: %v\n%s", name, tc.tool, err, out)
				}
				var stderr bytes.Buffer
				cmd := exec.Command(bin, "-dc", path)
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: %s -dc: %v\n%s", name, tc.tool, err, stderr.String())
				}
				if !bytes.Equal(out, data) {
					t.Errorf("%s: %s -dc gives %d bytes, want the %d bytes compressed", name, tc.tool, len(out), len(data))
				}
				if tc.format == Zstd && len(data) > 0 {
					// One frame: the kernel decompresses a single frame.
					list, err := exec.Command(bin, "-l", path).CombinedOutput()
					if err != nil {
						t.Fatalf("zstd -l: %v\n%s", err, list)
					}
					lines := strings.Split(strings.TrimSpace(string(list)), "\n")
					if len(lines) < 2 || strings.Fields(lines[1])[0] != "1" {
						t.Errorf("zstd -l shows more than one frame:\n%s", list)
					}
				}
			}
		})
	}
}
