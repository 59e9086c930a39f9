package ipxebuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTargets(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []Target
		wantErr string
	}{
		{name: "Warewulf's TARGETS, spaces", in: []string{"bin-x86_64-pcbios/undionly.kpxe  bin-arm64-efi/snponly.efi"},
			want: []Target{{"bin-x86_64-pcbios/undionly.kpxe", "x86_64", "pcbios"}, {"bin-arm64-efi/snponly.efi", "arm64", "efi"}}},
		{name: "commas, repeats once", in: []string{"bin-x86_64-efi/snponly.efi,bin-x86_64-efi/snponly.efi"},
			want: []Target{{"bin-x86_64-efi/snponly.efi", "x86_64", "efi"}}},
		{name: "no platform", in: []string{"bin/undionly.kpxe"}, wantErr: `target "bin/undionly.kpxe": want bin-ARCH-PLATFORM/FILE`},
		{name: "climbs out", in: []string{"bin-x86_64-efi/../x.efi"}, wantErr: `target "bin-x86_64-efi/../x.efi"`},
		{name: "unknown arch", in: []string{"bin-sparc-efi/snponly.efi"}, wantErr: `target "bin-sparc-efi/snponly.efi"`},
		{name: "empty", in: []string{" , "}, wantErr: "no targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTargets(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestArchCodesAndMap(t *testing.T) {
	built := []Built{}
	for _, name := range []string{"bin-x86_64-pcbios/undionly.kpxe", "bin-x86_64-efi/snponly.efi", "bin-arm64-efi/snponly.efi",
		"bin-x86_64-efi/ipxe.efi", "bin-x86_64-pcbios/ipxe.lkrn"} {
		tg, err := ParseTarget(name)
		if err != nil {
			t.Fatal(err)
		}
		built = append(built, Built{Target: tg, Path: "/d/" + tg.DestName()})
	}
	current := map[string]string{"00:00": "undionly.kpxe", "00:07": "ipxe-snponly-x86_64.efi", "00:09": "ipxe-snponly-x86_64.efi",
		"00:0B": "arm64-efi/snponly.efi", "00:10": "http.efi"}
	got, notes := IpxeMap(current, built)
	want := map[string]string{"00:00": "/d/bin-x86_64-pcbios-undionly.kpxe", "00:07": "/d/bin-x86_64-efi-snponly.efi",
		"00:09": "/d/bin-x86_64-efi-snponly.efi", "00:0B": "/d/bin-arm64-efi-snponly.efi", "00:10": "http.efi"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("map (-want +got):\n%s", diff)
	}
	wantNotes := []string{
		"client architecture 00:00: /d/bin-x86_64-pcbios-undionly.kpxe",
		"client architecture 00:07, 00:09: /d/bin-x86_64-efi-snponly.efi",
		"client architecture 00:0B: /d/bin-arm64-efi-snponly.efi",
		"/d/bin-x86_64-efi-ipxe.efi: client architecture 00:07 keeps /d/bin-x86_64-efi-snponly.efi, built first",
		"/d/bin-x86_64-efi-ipxe.efi: client architecture 00:09 keeps /d/bin-x86_64-efi-snponly.efi, built first",
		"/d/bin-x86_64-pcbios-ipxe.lkrn is not a network boot loader of any DHCP client architecture: tftp.ipxe does not name it",
	}
	if diff := cmp.Diff(wantNotes, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if current["00:00"] != "undionly.kpxe" {
		t.Errorf("IpxeMap changed its input")
	}
}

func TestCrossPrefix(t *testing.T) {
	tests := []struct {
		name, target, host, configured, want string
	}{
		{"native", "bin-x86_64-efi/snponly.efi", "x86_64", "", ""},
		{"i386 on x86_64", "bin-i386-efi/snponly.efi", "x86_64", "", ""},
		{"arm64 on x86_64", "bin-arm64-efi/snponly.efi", "x86_64", "", "aarch64-linux-gnu-"},
		{"CROSS given", "bin-arm64-efi/snponly.efi", "x86_64", "/opt/aarch64-", "/opt/aarch64-"},
		{"x86_64 on arm64", "bin-x86_64-pcbios/undionly.kpxe", "arm64", "", "x86_64-linux-gnu-"},
		{"native arm64 ignores CROSS", "bin-arm64-efi/snponly.efi", "arm64", "x-", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := ParseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if got := crossPrefix(tg, tt.host, tt.configured); got != tt.want {
				t.Errorf("crossPrefix = %q, want %q", got, tt.want)
			}
		})
	}
}

// fakeTree is an iPXE-shaped source tree whose Makefile makes each
// target a file recording the variables make was given, or fails after
// printing numbered lines when the target's file name has "fail".
func fakeTree(t *testing.T) string {
	t.Helper()
	top := t.TempDir()
	src := filepath.Join(top, "src")
	for _, d := range []string{"config/local", "bin-x86_64-pcbios", "bin-arm64-efi"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	recipe := "\t@case $@ in *fail*) for i in $$(seq 1 40); do echo \"output line $$i\"; done; exit 1;; esac\n" +
		"\t@echo building $@ && mkdir -p $(dir $@)\n" +
		"\t@printf 'CONFIG=%s EMBED=%s CROSS=%s EXTRA=%s\\n' '$(CONFIG)' '$(EMBED)' '$(CROSS)' '$(EXTRA)' >$@\n"
	mk := "bin-x86_64-pcbios/%:\n" + recipe + "bin-arm64-efi/%:\n" + recipe
	files := map[string]string{"Makefile": mk, "config/general.h": "/* general */\n", "config/console.h": "/* console */\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

func writeScript(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.ipxe")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func targets(t *testing.T, names ...string) []Target {
	t.Helper()
	ts, err := ParseTargets(names)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestBuild(t *testing.T) {
	// The build log of a failure is kept: in the test's directory.
	t.Setenv("TMPDIR", t.TempDir())
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	top := fakeTree(t)
	dest := filepath.Join(t.TempDir(), "ipxe")
	// make splits EMBED at commas and spaces.
	embed := filepath.Join(t.TempDir(), "my, script.ipxe")
	if err := os.WriteFile(embed, []byte("#!ipxe\necho hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	built, err := Build(context.Background(), Options{Source: top, Targets: targets(t, "bin-x86_64-pcbios/undionly.kpxe"),
		Embed: embed, DestDir: dest, MakeArgs: []string{"EXTRA=1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Built{{Target: Target{"bin-x86_64-pcbios/undionly.kpxe", "x86_64", "pcbios"}, Path: filepath.Join(dest, "bin-x86_64-pcbios-undionly.kpxe")}}
	if diff := cmp.Diff(want, built); diff != "" {
		t.Errorf("built (-want +got):\n%s", diff)
	}
	got, err := os.ReadFile(want[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	inTree := filepath.Join(top, "src", "config", "local", ConfigName, "embedded.ipxe")
	if b, err := os.ReadFile(inTree); err != nil || string(b) != "#!ipxe\necho hello\n" {
		t.Errorf("EMBED script in the tree: %q, %v", b, err)
	}
	if diff := cmp.Diff("CONFIG=wwboot EMBED="+inTree+" CROSS= EXTRA=1\n", string(got)); diff != "" {
		t.Errorf("binary (what make was given) (-want +got):\n%s", diff)
	}
	for name, content := range namedConfig() {
		b, err := os.ReadFile(filepath.Join(top, "src", "config", "local", ConfigName, name))
		if err != nil || string(b) != content {
			t.Errorf("config/local/%s/%s = %q, %v; want %q", ConfigName, name, b, err, content)
		}
	}
	for _, name := range []string{"general.h", "console.h"} {
		if _, err := os.Stat(filepath.Join(top, "src", "config", "local", name)); err != nil {
			t.Errorf("config/local/%s: %v (make's own empty local header)", name, err)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	// The build log of a failure is kept: in the test's directory.
	t.Setenv("TMPDIR", t.TempDir())
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	top := fakeTree(t)
	good := writeScript(t, "#!ipxe\ndhcp\n")
	tests := []struct {
		name string
		o    Options
		want []string // regular expressions the error matches
	}{
		{name: "missing EMBED", o: Options{Source: top, Embed: "/nonexistent/vlan.ipxe"},
			want: []string{`^EMBED script: stat /nonexistent/vlan.ipxe: no such file or directory$`}},
		{name: "EMBED not a script", o: Options{Source: top, Embed: writeScript(t, "vcreate --tag 1000 net0\n")},
			want: []string{`script.ipxe does not start with #!ipxe`}},
		{name: "not an iPXE tree", o: Options{Source: t.TempDir(), Embed: good},
			want: []string{`^iPXE source /.*: no src/Makefile and src/config/general.h`}},
		{name: "missing cross compiler", o: Options{Source: top, Cross: "nonexistent-prefix-", Targets: targets(t, "bin-x86_64-pcbios/undionly.kpxe", crossTarget())},
			want: []string{`^target bin-[a-z0-9_]+-efi/snponly.efi needs the compiler nonexistent-prefix-gcc, which is not on PATH`}},
		{name: "make fails", o: Options{Source: top, Targets: targets(t, "bin-x86_64-pcbios/fail.kpxe")},
			want: []string{`^build iPXE target bin-x86_64-pcbios/fail.kpxe in /.*/src: exit status 2`,
				`the last 25 lines of its output \(all of it in (/[^)]+\.log)\)`, "\noutput line 40\n", "\noutput line 18\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "dest")
			tt.o.DestDir = dest
			if tt.o.Targets == nil {
				tt.o.Targets = targets(t, "bin-x86_64-pcbios/undionly.kpxe")
			}
			_, err := Build(context.Background(), tt.o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(err.Error()) {
					t.Errorf("error %q does not match %q", err, re)
				}
			}
			if strings.Contains(err.Error(), "output line 17\n") {
				t.Errorf("error shows more than the last lines: %q", err)
			}
			if m := regexp.MustCompile(`all of it in (/[^)]+\.log)`).FindStringSubmatch(err.Error()); m != nil {
				if b, err := os.ReadFile(m[1]); err != nil || !strings.Contains(string(b), "output line 1\n") {
					t.Errorf("log %s: %v, %q", m[1], err, b)
				}
				os.Remove(m[1])
			}
			if _, err := os.Stat(dest); err == nil {
				if es, _ := os.ReadDir(dest); len(es) > 0 {
					t.Errorf("a failed build wrote %d files to the destination", len(es))
				}
			}
		})
	}
}

// crossTarget is a target of another architecture than the host's.
func crossTarget() string {
	if hostArch() == "arm64" {
		return "bin-x86_64-efi/snponly.efi"
	}
	return "bin-arm64-efi/snponly.efi"
}

func TestPIEWorkaround(t *testing.T) {
	tests := []struct {
		name, housekeeping, target string
		want                       []string
	}{
		{"2019 tree, x86_64 BIOS", "CFLAGS += $(WORKAROUND_CFLAGS)\n", "bin-x86_64-pcbios/undionly.kpxe", []string{"EXTRA_CFLAGS=-fno-PIE"}},
		{"2019 tree, x86_64 UEFI (-fpie on purpose)", "CFLAGS += $(WORKAROUND_CFLAGS)\n", "bin-x86_64-efi/snponly.efi", nil},
		{"2021 or later", "PIE_FLAGS := $(shell $(PIE_TEST) && $(ECHO) '-fno-PIE -no-pie')\n", "bin-x86_64-pcbios/undionly.kpxe", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "Makefile.housekeeping"), []byte(tt.housekeeping), 0o644); err != nil {
				t.Fatal(err)
			}
			tg, err := ParseTarget(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, pieWorkaround(dir, tg)); diff != "" {
				t.Errorf("make arguments (-want +got):\n%s", diff)
			}
		})
	}
}

// Without a source tree, Build clones the branch (here of a local
// repository: tests never reach the network) and builds the clone.
func TestBuildClones(t *testing.T) {
	// The build log of a failure is kept: in the test's directory.
	t.Setenv("TMPDIR", t.TempDir())
	for _, tool := range []string{"make", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	repo := fakeTree(t)
	for _, args := range [][]string{
		{"init", "-q", "-b", "v1.21.1"}, {"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "fake iPXE"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	dest := t.TempDir()
	built, err := Build(context.Background(), Options{Repo: "file://" + repo, Branch: "v1.21.1", DestDir: dest,
		Targets: targets(t, "bin-x86_64-pcbios/undionly.kpxe")})
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != 1 || !strings.HasPrefix(built[0].Path, dest) {
		t.Fatalf("built %v", built)
	}
	if _, err := os.Stat(filepath.Join(repo, "src", "bin-x86_64-pcbios", "undionly.kpxe")); err == nil {
		t.Errorf("the build ran in the repository, not in a clone")
	}
	_, err = Build(context.Background(), Options{Repo: "file://" + repo, Branch: "nonexistent", DestDir: dest,
		Targets: targets(t, "bin-x86_64-pcbios/undionly.kpxe")})
	if err == nil || !strings.Contains(err.Error(), "git clone --branch nonexistent file://"+repo+": exit status 128") {
		t.Errorf("error %v, want git clone's", err)
	}
}

func TestHostFlagsWorkaround(t *testing.T) {
	tests := []struct {
		name, housekeeping, cross string
		want                      []string
	}{
		{"2019 tree, cross", "HOST_CFLAGS\t+= $(WORKAROUND_CFLAGS) -O2 -g\n", "aarch64-linux-gnu-", []string{"HOST_CFLAGS=-O2 -g"}},
		{"2019 tree, native", "HOST_CFLAGS\t+= $(WORKAROUND_CFLAGS) -O2 -g\n", "", nil},
		{"tree without the leak, cross", "HOST_CFLAGS\t+= -O2 -g\n", "aarch64-linux-gnu-", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "Makefile.housekeeping"), []byte(tt.housekeeping), 0o644); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, hostFlagsWorkaround(dir, tt.cross)); diff != "" {
				t.Errorf("make arguments (-want +got):\n%s", diff)
			}
		})
	}
}
