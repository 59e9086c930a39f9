package sandbox_test

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wwboot/wwboot/internal/sandbox"
)

func TestMain(m *testing.M) {
	if sandbox.Child() {
		return
	}
	if dir := os.Getenv(lockHolderEnv); dir != "" {
		os.Exit(holdLock(dir))
	}
	os.Exit(m.Run())
}

func TestParseBind(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    sandbox.Bind
		wantErr string
	}{
		{name: "source only", in: "/opt", want: sandbox.Bind{Source: "/opt", Dest: "/opt"}},
		{name: "source and dest", in: "/srv/data:/data", want: sandbox.Bind{Source: "/srv/data", Dest: "/data"}},
		{name: "read-only", in: "/srv/data:/data:ro", want: sandbox.Bind{Source: "/srv/data", Dest: "/data", ReadOnly: true}},
		{name: "explicit rw", in: "/srv/data:/data:rw", want: sandbox.Bind{Source: "/srv/data", Dest: "/data"}},
		{name: "empty dest means source", in: "/opt::ro", want: sandbox.Bind{Source: "/opt", Dest: "/opt", ReadOnly: true}},
		{name: "paths are cleaned", in: "/opt/./x/:/y//z/", want: sandbox.Bind{Source: "/opt/x", Dest: "/y/z"}},
		{name: "relative source, absolute dest", in: "data:/data", want: sandbox.Bind{Source: "data", Dest: "/data"}},
		{name: "empty", in: "", wantErr: "empty source"},
		{name: "empty source", in: ":/x", wantErr: "empty source"},
		{name: "relative dest", in: "/a:b", wantErr: "not an absolute path"},
		{name: "relative source without dest", in: "data", wantErr: "not an absolute path"},
		{name: "copy", in: "/etc/resolv.conf::copy", want: sandbox.Bind{Source: "/etc/resolv.conf", Dest: "/etc/resolv.conf", Copy: true}},
		{name: "unknown option", in: "/a:/b:rx", wantErr: `unknown option "rx" (want ro, rw or copy)`},
		{name: "too many fields", in: "/a:/b:ro:x", wantErr: "want src[:dst[:ro|copy]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sandbox.ParseBind(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseBind(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseBind(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestRunNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("checks the refusal for non-root users; running as root")
	}
	_, err := sandbox.Run(context.Background(), sandbox.Options{Root: t.TempDir()}, []string{"true"})
	if err == nil || !strings.Contains(err.Error(), "needs root") {
		t.Errorf("Run as non-root = %v, want a needs-root error", err)
	}
}

// busyboxRoot makes a tiny image root: busybox-static with a few applets,
// plus the given directories. It skips the test unless it can run one.
func busyboxRoot(t *testing.T, dirs ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the sandbox mounts filesystems in new namespaces")
	}
	const busybox = "/bin/busybox"
	f, err := elf.Open(busybox)
	if err != nil {
		t.Skipf("needs a static %s (apt-get install busybox-static): %v", busybox, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Skipf("%s is dynamically linked; needs busybox-static (apt-get install busybox-static)", busybox)
		}
	}
	root := filepath.Join(t.TempDir(), "testimg", "rootfs")
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	mustMkdir(t, filepath.Join(root, "bin"))
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "ls", "cat", "echo", "mount", "hostname", "id", "touch", "sleep", "env"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dirs {
		mustMkdir(t, filepath.Join(root, d))
	}
	return root
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// run runs a shell command in the sandbox and returns its exit code and
// output, checking that no mount is left under root afterwards.
func run(t *testing.T, opts sandbox.Options, script string) (int, string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	opts.Stdout, opts.Stderr = &stdout, &stderr
	code, err := sandbox.Run(context.Background(), opts, []string{"sh", "-c", script})
	if left := mountsUnder(t, filepath.Dir(opts.Root)); len(left) > 0 {
		t.Errorf("mounts left on the host after Run: %q", left)
	}
	return code, stdout.String(), stderr.String(), err
}

// mountsUnder lists the host's mount points at or below dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	unescape := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		mp := unescape.Replace(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// tree lists every path under root with its type, to compare an image
// before and after a Run.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel+" "+d.Type().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRunNamespaces(t *testing.T) {
	root := busyboxRoot(t, "tmp", "proc", "sys", "dev", "run")
	code, out, errOut, err := run(t, sandbox.Options{Root: root, Hostname: "myimage"},
		`hostname; cat /proc/1/cmdline; echo; ls /proc/self; echo hi > /tmp/x; ls /dev; id -u`)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr:\n%s", code, err, errOut)
	}
	lines := strings.Split(out, "\n")
	if diff := cmp.Diff("myimage", lines[0]); diff != "" {
		t.Errorf("hostname inside (-want +got):\n%s", diff)
	}
	if got, want := lines[1], "sh\x00-c\x00hostname;"; !strings.HasPrefix(got, want) {
		t.Errorf("PID 1 is %q, want the command %q...", got, want)
	}
	for _, want := range []string{"cmdline", "mountinfo", "null", "urandom", "pts", "shm", "ptmx"} {
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("output lacks %q (from /proc/self or /dev):\n%s", want, out)
		}
	}
	if data, err := os.ReadFile(filepath.Join(root, "tmp", "x")); string(data) != "hi\n" {
		t.Errorf("file written inside = %q, %v; want it in the image", data, err)
	}
}

func TestRunMountsInside(t *testing.T) {
	root := busyboxRoot(t, "tmp", "proc", "sys", "dev", "run")
	_, out, errOut, err := run(t, sandbox.Options{Root: root}, `cat /proc/self/mountinfo`)
	if err != nil {
		t.Fatalf("Run: %v; stderr:\n%s", err, errOut)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		fields := strings.Fields(line)
		got = append(got, fields[4])
	}
	// Only the image and the sandbox's own mounts: the host's are gone.
	want := []string{"/", "/proc", "/sys", "/dev", "/run", "/dev/null", "/dev/zero", "/dev/full",
		"/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts", "/dev/shm"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mount points inside (-want +got):\n%s", diff)
	}
}

func TestRunHostnameDefault(t *testing.T) {
	root := busyboxRoot(t, "tmp")
	_, out, _, err := run(t, sandbox.Options{Root: root}, "hostname")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("testimg\n", out); diff != "" {
		t.Errorf("hostname from <name>/rootfs (-want +got):\n%s", diff)
	}
}

func TestRunEnvironment(t *testing.T) {
	root := busyboxRoot(t)
	t.Setenv("TERM", "xterm-test")
	t.Setenv("LEAKED", "host value")
	_, out, _, err := run(t, sandbox.Options{Root: root, Hostname: "img", Env: []string{"FOO=bar", "HOME=/home/x"}},
		`echo "$PATH|$HOME|$TERM|$PS1|$FOO|$LEAKED|$HISTFILE"`)
	if err != nil {
		t.Fatal(err)
	}
	want := sandbox.DefaultPath + `|/home/x|xterm-test|[wwctl image img] \w# |bar||/dev/null` + "\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

func TestRunExitCode(t *testing.T) {
	root := busyboxRoot(t)
	for _, tc := range []struct {
		name   string
		script string
		want   int
	}{
		{"success", "true", 0},
		{"failure", "exit 1", 1},
		{"any status", "exit 42", 42},
		{"killed child", `sh -c 'kill -9 $$'; exit $?`, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut, err := run(t, sandbox.Options{Root: root}, tc.script)
			if err != nil {
				t.Fatalf("Run: %v; stderr:\n%s", err, errOut)
			}
			if code != tc.want {
				t.Errorf("exit code = %d, want %d", code, tc.want)
			}
		})
	}
}

func TestRunCommandNotFound(t *testing.T) {
	root := busyboxRoot(t)
	code, err := sandbox.Run(context.Background(), sandbox.Options{Root: root}, []string{"no-such-command"})
	if err == nil || !strings.Contains(err.Error(), `"no-such-command" not found`) {
		t.Errorf("Run = %d, %v; want a not-found error", code, err)
	}
}

func TestRunBinds(t *testing.T) {
	root := busyboxRoot(t) // bare: every mount point must be made and removed
	host := t.TempDir()
	mustMkdir(t, filepath.Join(host, "rw"))
	mustMkdir(t, filepath.Join(host, "ro"))
	for name, content := range map[string]string{"rw/f": "rw content\n", "ro/f": "ro content\n", "file": "file content\n"} {
		if err := os.WriteFile(filepath.Join(host, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An absolute symlink in the image resolves inside the image.
	mustMkdir(t, filepath.Join(root, "data"))
	if err := os.Symlink("/data", filepath.Join(root, "srv")); err != nil {
		t.Fatal(err)
	}
	hostPath := "/data/wwboot-sandbox-test-" + filepath.Base(host)
	before := tree(t, root)

	var logs bytes.Buffer
	opts := sandbox.Options{
		Root: root,
		Binds: []sandbox.Bind{
			{Source: filepath.Join(host, "rw"), Dest: "/mnt/deep/rw"},
			{Source: filepath.Join(host, "ro"), Dest: "/mnt/ro", ReadOnly: true},
			{Source: filepath.Join(host, "file"), Dest: "/etc/hostfile", ReadOnly: true},
			{Source: filepath.Join(host, "file"), Dest: "/srv/" + filepath.Base(hostPath)},
			{Source: filepath.Join(host, "missing"), Dest: "/missing"},
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	code, out, errOut, err := run(t, opts, `cat /mnt/deep/rw/f /mnt/ro/f /etc/hostfile `+hostPath+`
echo new > /mnt/deep/rw/g
if echo bad > /mnt/ro/h; then echo wrote read-only bind; fi
if echo bad > /etc/hostfile; then echo wrote read-only file bind; fi
test -e /missing && echo missing bind exists
true`)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr:\n%s", code, err, errOut)
	}
	want := "rw content\nro content\nfile content\nfile content\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if data, err := os.ReadFile(filepath.Join(host, "rw", "g")); string(data) != "new\n" {
		t.Errorf("write through rw bind: host file = %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(host, "ro", "h")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("write through ro bind reached the host: %v", err)
	}
	if _, err := os.Stat(hostPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a mount point escaped the image to the host's %s: %v", hostPath, err)
	}
	if diff := cmp.Diff(before, tree(t, root)); diff != "" {
		t.Errorf("image tree changed by Run (-before +after):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "bind source missing") {
		t.Errorf("no warning for the missing bind source; log:\n%s", logs.String())
	}
}

// TestRunCopies copies files into the image for the command: one it
// leaves alone is removed after, one it changes is kept, one the image
// has already is not replaced, and a link in the image cannot lead the
// copy out of it.
func TestRunCopies(t *testing.T) {
	root := busyboxRoot(t)
	host := t.TempDir()
	for name, content := range map[string]string{"resolv": "nameserver 192.0.2.53\n", "repo": "[repo]\n", "mine": "host's\n"} {
		if err := os.WriteFile(filepath.Join(host, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustMkdir(t, filepath.Join(root, "etc"))
	if err := os.WriteFile(filepath.Join(root, "etc", "mine"), []byte("image's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	before := tree(t, root)
	var logs bytes.Buffer
	opts := sandbox.Options{
		Root: root,
		Binds: []sandbox.Bind{
			{Source: filepath.Join(host, "resolv"), Dest: "/etc/resolv.conf", Copy: true},
			{Source: filepath.Join(host, "repo"), Dest: "/etc/site.repo", Copy: true},
			{Source: filepath.Join(host, "mine"), Dest: "/etc/mine", Copy: true},
			{Source: filepath.Join(host, "repo"), Dest: "/escape/site.repo", Copy: true},
			{Source: filepath.Join(host, "repo"), Dest: "/nodir/site.repo", Copy: true},
		},
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	code, out, errOut, err := run(t, opts, `cat /etc/resolv.conf /etc/site.repo /etc/mine
echo "[changed]" >> /etc/site.repo`)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr:\n%s", code, err, errOut)
	}
	if want := "nameserver 192.0.2.53\n[repo]\nimage's\n"; out != want {
		t.Errorf("the command read %q, want %q", out, want)
	}
	// Only the file the command changed stays.
	want := append(before, "etc/site.repo ----------")
	slices.Sort(want)
	got := tree(t, root)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image after the command (-want +got):\n%s\nlog:\n%s", diff, logs.String())
	}
	for name, content := range map[string]string{"etc/site.repo": "[repo]\n[changed]\n", "etc/mine": "image's\n"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); string(b) != content {
			t.Errorf("%s holds %q (%v), want %q", name, b, err, content)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("a copy left the image through a link: %v", entries)
	}
}

func TestRunReadOnly(t *testing.T) {
	root := busyboxRoot(t, "tmp", "proc", "sys", "dev", "run")
	host := t.TempDir()
	code, out, errOut, err := run(t, sandbox.Options{
		Root: root, ReadOnly: true,
		Binds: []sandbox.Bind{{Source: host, Dest: "/tmp"}},
	}, `if touch /newfile; then echo wrote root; fi
touch /run/ok && echo run writable
touch /tmp/ok && echo rw bind writable
touch /dev/shm/ok && echo shm writable`)
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v; stderr:\n%s", code, err, errOut)
	}
	if diff := cmp.Diff("run writable\nrw bind writable\nshm writable\n", out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(root, "newfile")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only image was written: %v", err)
	}
}

// signalWriter closes ready at its first write.
type signalWriter struct {
	once  sync.Once
	ready chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.ready) })
	return len(p), nil
}

func TestRunCancel(t *testing.T) {
	root := busyboxRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &signalWriter{ready: make(chan struct{})}
	go func() {
		<-w.ready
		cancel()
	}()
	_, err := sandbox.Run(ctx, sandbox.Options{Root: root, Stdout: w, Stderr: io.Discard},
		[]string{"sh", "-c", "echo started; sleep 1000 & while :; do sleep 1000; done"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	if left := mountsUnder(t, filepath.Dir(root)); len(left) > 0 {
		t.Errorf("mounts left: %q", left)
	}
}

// TestRunLayers lays a directory over an image, as "image exec --node"
// does with a node's rendered overlays: the layer's files are seen over
// the image's, mount points the image lacks are made, and nothing at all
// is written into the image or the layer.
func TestRunLayers(t *testing.T) {
	// No proc, dev, sys or run: their mount points must not land in the image.
	root := busyboxRoot(t, "etc")
	if err := os.WriteFile(filepath.Join(root, "etc", "hostname"), []byte("image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	layer := t.TempDir()
	mustMkdir(t, filepath.Join(layer, "etc", "warewulf"))
	for p, content := range map[string]string{"etc/hostname": "n1\n", "etc/warewulf/node.conf": "node\n"} {
		if err := os.WriteFile(filepath.Join(layer, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host := filepath.Join(t.TempDir(), "host.txt")
	if err := os.WriteFile(host, []byte("bound\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	beforeImage, beforeLayer := tree(t, root), tree(t, layer)
	tests := []struct {
		name     string
		readOnly bool
		script   string
		want     string
		wantCode int
	}{
		{name: "layer over image", script: "cat /etc/hostname /etc/warewulf/node.conf /mnt/host.txt; ls /bin/busybox; ls /proc/self/cmdline",
			want: "n1\nnode\nbound\n/bin/busybox\n/proc/self/cmdline\n"},
		{name: "writes vanish", script: "echo x > /etc/new && echo y > /etc/hostname && cat /etc/new /etc/hostname", want: "x\ny\n"},
		{name: "read-only view", readOnly: true, script: "echo x > /etc/new 2>/dev/null || echo refused", want: "refused\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut, err := run(t, sandbox.Options{Root: root, Layers: []string{layer}, ReadOnly: tt.readOnly,
				Binds: []sandbox.Bind{{Source: host, Dest: "/mnt/host.txt", ReadOnly: true}}}, tt.script)
			if err != nil || code != tt.wantCode {
				t.Fatalf("Run = %d, %v; stderr:\n%s", code, err, errOut)
			}
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(beforeImage, tree(t, root)); diff != "" {
				t.Errorf("image changed (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(beforeLayer, tree(t, layer)); diff != "" {
				t.Errorf("layer changed (-before +after):\n%s", diff)
			}
			if data, _ := os.ReadFile(filepath.Join(root, "etc", "hostname")); string(data) != "image\n" {
				t.Errorf("image's /etc/hostname = %q", data)
			}
		})
	}
	if _, err := sandbox.Run(context.Background(), sandbox.Options{Root: root, Layers: []string{t.TempDir() + "/a,b"}}, []string{"true"}); err == nil {
		t.Error("a layer that does not exist was accepted")
	}
}
