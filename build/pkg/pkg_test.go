package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// binDir is what "make build" wrote; make pkg-test builds it first.
func binDir(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("WWBOOT_BIN")
	if bin == "" {
		bin = "../../bin"
	}
	if _, err := os.Stat(filepath.Join(bin, "wwctl")); err != nil {
		t.Skipf("no %s/wwctl: run make pkg-test (it builds first)", bin)
	}
	return bin
}

func TestPackageVersion(t *testing.T) {
	tests := []struct {
		name, describe string
		commits        int
		want           string
		wantErr        bool
	}{
		{name: "tag", describe: "v4.7.0", want: "4.7.0"},
		{name: "after a tag", describe: "v4.7.0-12-g1a2b3c4", want: "4.7.0+12.g1a2b3c4"},
		{name: "dirty after a tag", describe: "v1.2-3-gabcdef0-dirty", want: "1.2+3.gabcdef0.dirty"},
		{name: "no tag", describe: "4a63c37", commits: 302, want: "0.0.0+302.g4a63c37"},
		{name: "no tag dirty", describe: "4a63c37-dirty", commits: 9, want: "0.0.0+9.g4a63c37.dirty"},
		{name: "no tag without a count", describe: "4a63c37", wantErr: true},
		{name: "devel", describe: "devel", wantErr: true},
		{name: "empty", describe: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PackageVersion(tc.describe, tc.commits)
			if (err != nil) != tc.wantErr {
				t.Fatalf("PackageVersion(%q) error %v, want error %v", tc.describe, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("PackageVersion(%q) = %q, want %q", tc.describe, got, tc.want)
			}
		})
	}
}

// installed walks dir: every path with its type and mode (a link with
// its target), relative to dir.
func installed(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, dir+"/"))
		switch {
		case st.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			got[rel] = "-> " + target
		default:
			got[rel] = st.Mode().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestInstall installs into a temporary root, checks every entry against
// the disk (and the files an administrator looks for), that a second
// install keeps an edited warewulf.conf, that systemd accepts the unit,
// and that the installed wwctl reads the installed overlays.
func TestInstall(t *testing.T) {
	bin := binDir(t)
	root := t.TempDir()
	// Every directory under root, so that the installed warewulf.conf
	// points the installed wwctl at this tree.
	opts := TreeOptions{Src: "../..", Bin: bin, Prefix: root + "/usr", Sysconfdir: root + "/etc",
		Localstatedir: root + "/var/lib", Ipxesource: "/usr/lib/ipxe", Epoch: time.Unix(1700000000, 0)}
	entries, err := Tree(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := Install("", entries, os.Stderr); err != nil {
		t.Fatal(err)
	}

	got := installed(t, root)
	want := map[string]string{}
	for _, e := range entries {
		rel := strings.TrimPrefix(e.Path, root)
		switch e.Kind {
		case Symlink:
			want[rel] = "-> " + e.Target
		case Dir:
			want[rel] = (fs.ModeDir | e.Mode).String()
		case File:
			want[rel] = e.Mode.String()
		}
	}
	// Parents the entries do not list are made 0755.
	for p := range got {
		if _, ok := want[p]; !ok && got[p] == "drwxr-xr-x" {
			want[p] = got[p]
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("installed tree differs from the entries (-want +got):\n%s", diff)
	}
	for p, mode := range map[string]string{
		"/usr/bin/wwctl":                                                            "-rwxr-xr-x",
		"/usr/bin/warewulfd":                                                        "-> wwctl",
		"/usr/lib/wwboot/wwclient":                                                  "-rwxr-xr-x",
		"/usr/lib/wwboot/wwclient.x86_64":                                           "-rwxr-xr-x",
		"/usr/lib/wwboot/wwclient.aarch64":                                          "-rwxr-xr-x",
		"/usr/lib/wwboot/wwstage1":                                                  "-rwxr-xr-x",
		"/usr/lib/wwboot/wwstage1.x86_64":                                           "-rwxr-xr-x",
		"/usr/lib/wwboot/wwstage1.aarch64":                                          "-rwxr-xr-x",
		"/etc/warewulf/warewulf.conf":                                               "-rw-r--r--",
		"/etc/warewulf/nodes.conf":                                                  "-rw-------",
		"/etc/warewulf/ipxe/default.ipxe":                                           "-rw-r--r--",
		"/etc/warewulf/ipxe/unconfigured.ipxe":                                      "-rw-r--r--",
		"/var/lib/warewulf/overlays":                                                "drwxr-xr-x",
		"/var/lib/warewulf/provision":                                               "drwxr-xr-x",
		"/usr/lib/systemd/system/warewulfd.service":                                 "-rw-r--r--",
		"/usr/share/man/man1/wwctl.1.gz":                                            "-rw-r--r--",
		"/usr/share/man/man1/wwctl-server.1.gz":                                     "-rw-r--r--",
		"/usr/share/bash-completion/completions/wwctl":                              "-rw-r--r--",
		"/usr/share/zsh/vendor-completions/_wwctl":                                  "-rw-r--r--",
		"/usr/share/fish/vendor_completions.d/wwctl.fish":                           "-rw-r--r--",
		"/usr/share/warewulf/overlays/ssh.host_keys/rootfs/etc/ssh/ssh_host_key.ww": "-rw-------",
		"/usr/share/warewulf/overlays/host/rootfs/etc/dhcpd.conf":                   "-> dhcp/dhcpd.conf",
		"/usr/share/warewulf/overlays/issue/rootfs/etc/issue.ww":                    "-rw-r--r--",
	} {
		if got[p] != mode {
			t.Errorf("%s: %q, want %q", p, got[p], mode)
		}
	}

	unit, err := os.ReadFile(root + "/usr/lib/systemd/system/warewulfd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"ExecStart=" + root + "/usr/bin/wwctl server $OPTIONS", "ExecReload=/bin/kill -HUP $MAINPID",
		"ReadWritePaths=" + root + "/etc/warewulf"} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("warewulfd.service has no line %q", line)
		}
	}
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		out, err := exec.Command(sa, "verify", "--man=no", root+"/usr/lib/systemd/system/warewulfd.service").CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else {
		t.Log("systemd-analyze is not installed (Debian's systemd): the unit was not verified")
	}

	// The installed wwctl reads the installed overlays: a change on disk
	// shows.
	issue := root + "/usr/share/warewulf/overlays/issue/rootfs/etc/issue.ww"
	if err := os.WriteFile(issue, []byte("installed tree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wwctl := []string{root + "/usr/bin/wwctl", "--warewulfconf", root + "/etc/warewulf/warewulf.conf"}
	out, err := exec.Command(wwctl[0], append(wwctl[1:], "overlay", "show", "issue", "etc/issue.ww")...).CombinedOutput()
	if err != nil || string(out) != "installed tree\n" {
		t.Errorf("wwctl overlay show issue etc/issue.ww: %v\n%s\nwant the installed file's content", err, out)
	}
	out, err = exec.Command(wwctl[0], append(wwctl[1:], "overlay", "list")...).CombinedOutput()
	if err != nil {
		t.Fatalf("wwctl overlay list: %v\n%s", err, out)
	}
	for _, name := range []string{"wwinit", "wwclient", "wwclient.x86_64", "wwclient.aarch64", "host", "hosts", "ssh.host_keys"} {
		if !slices.ContainsFunc(strings.Split(string(out), "\n"), func(l string) bool {
			return strings.HasPrefix(l, name+" ")
		}) {
			t.Errorf("wwctl overlay list has no %s:\n%s", name, out)
		}
	}

	// Installing again keeps an edited configuration file.
	conf := root + "/etc/warewulf/warewulf.conf"
	if err := os.WriteFile(conf, []byte("ipaddr: 10.0.0.1/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Install("", entries, os.Stderr); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(conf); string(b) != "ipaddr: 10.0.0.1/24\n" {
		t.Errorf("a second install replaced the edited warewulf.conf with:\n%s", b)
	}
	if _, err := os.Stat(conf + ".new"); err != nil {
		t.Errorf("the shipped warewulf.conf is not beside the kept one: %v", err)
	}
}

func sum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// buildPackage runs "pkg FORMAT" as make deb and make rpm do.
func buildPackage(t *testing.T, format, out string) string {
	t.Helper()
	bin := binDir(t)
	args := []string{format, "-bin", bin, "-out", out, "-describe", "v1.2.3-4-gabcdef0", "-epoch", "1700000000"}
	if err := run(context.Background(), args, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, FileName(format, "1.2.3+4.gabcdef0", runtime.GOARCH))
}

func command(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

func TestDeb(t *testing.T) {
	first := buildPackage(t, "deb", t.TempDir())
	second := buildPackage(t, "deb", t.TempDir())
	if a, b := sum(t, first), sum(t, second); a != b {
		t.Errorf("two builds differ: %s %s", a, b)
	}
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb is not installed: the package's fields were not read")
	}
	fields := map[string]string{}
	for _, f := range []string{"Package", "Version", "Architecture", "Depends", "Suggests", "Section"} {
		fields[f] = strings.TrimSpace(command(t, "dpkg-deb", "-f", first, f))
	}
	want := map[string]string{"Package": "wwboot", "Version": "1.2.3+4.gabcdef0", "Architecture": runtime.GOARCH,
		"Depends": "ipxe, procps", "Suggests": "dnsmasq, isc-dhcp-server, kea-dhcp4-server, nfs-kernel-server, ipmitool",
		"Section": "admin"}
	if diff := cmp.Diff(want, fields); diff != "" {
		t.Errorf("control fields (-want +got):\n%s", diff)
	}
	conffiles := command(t, "sh", "-c", "dpkg-deb --ctrl-tarfile '"+first+"' | tar -xO ./conffiles")
	wantConf := "/etc/warewulf/ipxe/default.ipxe\n/etc/warewulf/ipxe/localdisk.ipxe\n/etc/warewulf/ipxe/unconfigured.ipxe\n" +
		"/etc/warewulf/nodes.conf\n/etc/warewulf/warewulf.conf\n"
	if diff := cmp.Diff(wantConf, conffiles); diff != "" {
		t.Errorf("conffiles (-want +got):\n%s", diff)
	}
	list := command(t, "dpkg-deb", "-c", first)
	for _, line := range []string{"-rwxr-xr-x root/root", "./usr/bin/wwctl", "./usr/bin/warewulfd -> wwctl",
		"-rw------- root/root", "./etc/warewulf/nodes.conf", "./usr/lib/systemd/system/warewulfd.service",
		"./usr/lib/wwboot/wwclient.aarch64", "./usr/lib/wwboot/wwstage1.aarch64", "2023-11-14 22:13 ./usr/bin/wwctl"} {
		if !strings.Contains(list, line) {
			t.Errorf("dpkg-deb -c has no %q", line)
		}
	}
	if strings.Contains(list, " 0/0 ") || !strings.Contains(list, "root/root") {
		t.Errorf("entries are not owned by root/root:\n%.400s", list)
	}
}

func TestRPM(t *testing.T) {
	first := buildPackage(t, "rpm", t.TempDir())
	second := buildPackage(t, "rpm", t.TempDir())
	if a, b := sum(t, first), sum(t, second); a != b {
		t.Errorf("two builds differ: %s %s", a, b)
	}
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm is not installed (Debian's rpm package): the header was not read")
	}
	got := command(t, "rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH}\n", first)
	if want := "wwboot 1.2.3+4.gabcdef0 1 " + archNames["rpm"][runtime.GOARCH] + "\n"; got != want {
		t.Errorf("rpm header %q, want %q", got, want)
	}
	// %config(noreplace) is flag 16 (RPMFILE_NOREPLACE) with 1 (CONFIG).
	flags := command(t, "rpm", "-qp", "--qf", "[%{FILEFLAGS} %{FILENAMES}\n]", first)
	for _, f := range []string{"/etc/warewulf/warewulf.conf", "/etc/warewulf/nodes.conf", "/etc/warewulf/ipxe/default.ipxe"} {
		if !strings.Contains(flags, "\n17 "+f+"\n") {
			t.Errorf("%s is not %%config(noreplace) (flags 17):\n%s", f, flags)
		}
	}
	requires := command(t, "rpm", "-qp", "--requires", first)
	if !strings.Contains(requires, "ipxe-bootimgs-x86\n") {
		t.Errorf("rpm requires no ipxe-bootimgs-x86:\n%s", requires)
	}
	conf := command(t, "sh", "-c", "rpm2cpio '"+first+"' | cpio -i --quiet --to-stdout ./etc/warewulf/warewulf.conf")
	if !strings.Contains(conf, "\n  ipxesource: /usr/share/ipxe\n") {
		t.Errorf("the rpm's warewulf.conf does not take iPXE from /usr/share/ipxe")
	}
}
