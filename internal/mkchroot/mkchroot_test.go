package mkchroot_test

import (
	"bytes"
	"context"
	"debug/elf"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wwboot/wwboot/internal/mkchroot"
	"github.com/wwboot/wwboot/internal/sandbox"
)

func TestMain(m *testing.M) {
	if sandbox.Child() {
		return
	}
	os.Exit(m.Run())
}

// staticBusybox returns the host's static busybox, or "".
func staticBusybox() string {
	f, err := elf.Open("/bin/busybox")
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return ""
		}
	}
	return "/bin/busybox"
}

func hasTool(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

func TestTemplatesOnThisHost(t *testing.T) {
	root := os.Geteuid() == 0
	debootstrap := hasTool("debootstrap") && root
	debianKey := fileExists("/usr/share/keyrings/debian-archive-keyring.gpg")
	dnf := hasTool("dnf") && root
	want := map[string]bool{
		"busybox":         staticBusybox() != "",
		"debian-bookworm": debootstrap && debianKey && fileExists("/usr/share/debootstrap/scripts/bookworm"),
		"debian-trixie":   debootstrap && debianKey && fileExists("/usr/share/debootstrap/scripts/trixie"),
		"rocky-9":         dnf,
		"almalinux-9":     dnf,
		"fedora-42":       dnf,
	}
	var names []string
	for _, tpl := range mkchroot.Templates() {
		names = append(names, tpl.Name)
		if tpl.Available == (tpl.Missing != "") {
			t.Errorf("%s: Available %v but Missing %q", tpl.Name, tpl.Available, tpl.Missing)
		}
		if tpl.Description == "" {
			t.Errorf("%s has no description", tpl.Name)
		}
		if w, ok := want[tpl.Name]; ok && w != tpl.Available {
			t.Errorf("%s: Available = %v, want %v (missing %q)", tpl.Name, tpl.Available, w, tpl.Missing)
		}
		if tpl.Name == "ubuntu-noble" && !fileExists("/usr/share/keyrings/ubuntu-archive-keyring.gpg") && tpl.Available {
			t.Errorf("ubuntu-noble available without the Ubuntu keyring")
		}
		t.Logf("%-16s available=%-5v %s", tpl.Name, tpl.Available, tpl.Missing)
	}
	wantNames := []string{"busybox", "debian-bookworm", "debian-trixie", "ubuntu-noble", "rocky-9", "almalinux-9", "fedora-42"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("template names (-want +got):\n%s", diff)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestCreateBusybox(t *testing.T) {
	bb := staticBusybox()
	if bb == "" {
		t.Skip("needs a static /bin/busybox (apt-get install busybox-static)")
	}
	dest := filepath.Join(t.TempDir(), "tiny", "rootfs")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkchroot.Create(context.Background(), "busybox", dest, mkchroot.Options{}); err != nil {
		t.Fatal(err)
	}

	for link, want := range map[string]string{"bin/sh": "/bin/busybox", "sbin/init": "/bin/busybox", "bin/ls": "/bin/busybox"} {
		got, err := os.Readlink(filepath.Join(dest, link))
		if err != nil || got != want {
			t.Errorf("%s -> %q, %v; want a link to %s", link, got, err, want)
		}
	}
	applets, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a == "bin/busybox" {
			continue
		}
		if st, err := os.Lstat(filepath.Join(dest, a)); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("applet %s is not a link: %v", a, err)
		}
	}
	modes := map[string]os.FileMode{}
	for _, p := range []string{"bin/busybox", "tmp", "var/tmp", "root", "proc", "sys", "dev", "run", "etc/init.d/rcS", "etc/passwd"} {
		st, err := os.Stat(filepath.Join(dest, p))
		if err != nil {
			t.Fatal(err)
		}
		modes[p] = st.Mode()
	}
	wantModes := map[string]os.FileMode{
		"bin/busybox": 0o755, "tmp": os.ModeDir | os.ModeSticky | 0o777, "var/tmp": os.ModeDir | os.ModeSticky | 0o777,
		"root": os.ModeDir | 0o700, "proc": os.ModeDir | 0o555, "sys": os.ModeDir | 0o555,
		"dev": os.ModeDir | 0o755, "run": os.ModeDir | 0o755, "etc/init.d/rcS": 0o755, "etc/passwd": 0o644,
	}
	if diff := cmp.Diff(wantModes, modes); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
	passwd, _ := os.ReadFile(filepath.Join(dest, "etc", "passwd"))
	if !strings.HasPrefix(string(passwd), "root:*:0:0:") {
		t.Errorf("etc/passwd = %q, want root first", passwd)
	}

	if os.Geteuid() != 0 {
		t.Log("not root: skipping the run inside the new tree")
		return
	}
	var out, errOut bytes.Buffer
	code, err := sandbox.Run(context.Background(), sandbox.Options{Root: dest, Stdout: &out, Stderr: &errOut},
		[]string{"sh", "-c", "echo ok; hostname; cat /etc/hostname; . /etc/profile; echo $PATH"})
	if err != nil || code != 0 {
		t.Fatalf("sandbox.Run = %d, %v; stderr:\n%s", code, err, errOut.String())
	}
	want := "ok\ntiny\nbusybox\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

// TestCreateDebian bootstraps a real Debian image: it downloads a few
// hundred megabytes, so it runs only when asked.
func TestCreateDebian(t *testing.T) {
	if os.Getenv("WWBOOT_NETWORK_TESTS") != "1" {
		t.Skip("downloads ~200 MB from the Debian mirror; set WWBOOT_NETWORK_TESTS=1 to run")
	}
	const template = "debian-bookworm"
	for _, tpl := range mkchroot.Templates() {
		if tpl.Name == template && !tpl.Available {
			t.Skipf("%s not available here: needs %s", template, tpl.Missing)
		}
	}
	dest := filepath.Join(t.TempDir(), "bookworm", "rootfs")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	start := time.Now()
	err := mkchroot.Create(context.Background(), template, dest, mkchroot.Options{
		Log:      slog.New(slog.NewTextHandler(&logs, nil)),
		Packages: []string{"less"},
		Stdout:   testWriter{t}, Stderr: testWriter{t},
	})
	t.Logf("Create %s took %v", template, time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("%v\nlog:\n%s", err, logs.String())
	}
	for _, p := range []string{"sbin/init", "usr/sbin/sshd", "usr/sbin/ip", "usr/bin/less", "etc/network/interfaces"} {
		if _, err := os.Stat(filepath.Join(dest, p)); err != nil {
			t.Errorf("image lacks %s: %v", p, err)
		}
	}
	if kernels, _ := filepath.Glob(filepath.Join(dest, "boot", "vmlinuz-*")); len(kernels) == 0 {
		t.Error("image has no kernel in /boot")
	}
	if debs, _ := filepath.Glob(filepath.Join(dest, "var/cache/apt/archives/*.deb")); len(debs) > 0 {
		t.Errorf("%d packages left in the apt cache", len(debs))
	}
	if mid, err := os.ReadFile(filepath.Join(dest, "etc", "machine-id")); err != nil || len(mid) != 0 {
		t.Errorf("etc/machine-id = %q, %v; want empty so each node makes its own", mid, err)
	}

	var out bytes.Buffer
	code, err := sandbox.Run(context.Background(), sandbox.Options{Root: dest, Stdout: &out, Stderr: testWriter{t}},
		[]string{"sh", "-c", "cat /etc/debian_version; dpkg-query -W -f '${Status}\\n' openssh-server systemd-sysv"})
	if err != nil || code != 0 {
		t.Fatalf("sandbox.Run = %d, %v", code, err)
	}
	t.Logf("inside the image:\n%s", out.String())
	if !strings.HasPrefix(out.String(), "12.") || strings.Count(out.String(), "install ok installed") != 2 {
		t.Errorf("unexpected output from the image:\n%s", out.String())
	}
}

// testWriter sends a tool's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
