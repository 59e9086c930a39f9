package agent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/nodeclient"
)

const interval = time.Second

// TestFollowsServer runs wwclient against the real daemon: the runtime
// overlay arrives; an unchanged one is not downloaded again, though every
// contact is a heartbeat; a file added, changed and removed arrives
// within one interval; nothing else on the node is touched.
func TestFollowsServer(t *testing.T) {
	needRoot(t)
	d := newDaemon(t, true)
	root := t.TempDir()
	sitetest.WriteMode(t, filepath.Join(root, "etc/local"), "the node's own\n", 0o644)
	if err := os.Chmod(filepath.Join(root, "etc"), 0o750); err != nil {
		t.Fatal(err)
	}
	runAgent(t, d, root, interval)

	// The agent writes the overlay's files one after another: wait for
	// the last of them (etc/secret after etc/motd), not the first, or a
	// loaded machine sees the overlay half applied.
	waitFor(t, "first overlay", 10*time.Second, func() bool {
		return fileIs(filepath.Join(root, "etc/motd"), "welcome to n1\n")() && fileIs(filepath.Join(root, "etc/secret"), "s3cret\n")()
	})
	got := map[string]string{}
	for _, name := range []string{"etc/keep", "etc/secret", "etc/local"} {
		st, err := os.Stat(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(root, name))
		got[name] = st.Mode().Perm().String() + " " + string(data)
	}
	if target, err := os.Readlink(filepath.Join(root, "etc/link")); err != nil || target != "motd" {
		t.Errorf("etc/link -> %q, %v; want motd", target, err)
	}
	want := map[string]string{
		"etc/keep":   "-rw-r--r-- v1\n",
		"etc/secret": "-rw------- s3cret\n",
		"etc/local":  "-rw-r--r-- the node's own\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("node files (-want +got):\n%s", diff)
	}
	first := d.status()
	if first.Stage != "RUNTIME_OVERLAY" || first.Sent != "__RUNTIME__.img.gz" {
		t.Errorf("status after the first contact = %+v, want RUNTIME_OVERLAY __RUNTIME__.img.gz", first)
	}

	// Unchanged: each later contact is seen, and sends nothing.
	last := first.LastSeen
	for i := 0; i < 2; i++ {
		waitFor(t, "heartbeat", 3*interval, func() bool { return d.status().LastSeen.After(last) })
		st := d.status()
		if st.Bytes != 0 || st.Stage != "RUNTIME_OVERLAY" || st.Sent != "__RUNTIME__.img.gz" {
			t.Errorf("contact %d with an unchanged overlay: %+v, want RUNTIME_OVERLAY __RUNTIME__.img.gz and 0 bytes", i+2, st)
		}
		last = st.LastSeen
	}

	d.change(t, func() {
		d.put(t, "etc/keep", "v2\n", 0o640)
		d.put(t, "etc/new", "added\n", 0o644)
		if err := os.Remove(filepath.Join(d.site, "etc/secret")); err != nil {
			t.Fatal(err)
		}
	})
	took := waitFor(t, "changed overlay", 3*interval, func() bool {
		return fileIs(filepath.Join(root, "etc/keep"), "v2\n")() && fileIs(filepath.Join(root, "etc/new"), "added\n")() &&
			gone(filepath.Join(root, "etc/secret"))()
	})
	if took > interval+500*time.Millisecond {
		t.Errorf("the change arrived after %s, more than one interval (%s)", took, interval)
	}
	if st := d.status(); st.Bytes == 0 {
		t.Errorf("status after a changed overlay = %+v, want bytes sent", st)
	}
	if st, err := os.Stat(filepath.Join(root, "etc/keep")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("etc/keep mode = %v, %v; want 0640", st.Mode(), err)
	}
	if !fileIs(filepath.Join(root, "etc/local"), "the node's own\n")() {
		t.Error("etc/local, which no overlay placed, changed")
	}
	if st, err := os.Stat(filepath.Join(root, "etc")); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("the node's etc directory mode = %v, %v; want it kept at 0750", st.Mode(), err)
	}
	if l := leftovers(t, root); len(l) > 0 {
		t.Errorf("temporary files left: %q", l)
	}
}

// TestServerOutage stops the daemon under a running wwclient: it retries
// with backoff, logging a few lines rather than one per attempt, and
// takes up a change made meanwhile once the daemon is back.
func TestServerOutage(t *testing.T) {
	needRoot(t)
	d := newDaemon(t, false)
	root := t.TempDir()
	logs := runAgent(t, d, root, interval)
	waitFor(t, "first overlay", 10*time.Second, fileIs(filepath.Join(root, "etc/keep"), "v1\n"))

	addr := d.addr
	d.stop()
	d.change(t, func() { d.put(t, "etc/keep", "after the outage\n", 0o644) })
	time.Sleep(5 * interval)
	d.start(t, addr)
	waitFor(t, "change after the outage", 3*interval, fileIs(filepath.Join(root, "etc/keep"), "after the outage\n"))

	waitFor(t, "recovery logged", interval, func() bool { return strings.Contains(logs.String(), "server reachable again") })
	out := logs.String()
	warnings := strings.Count(out, "level=WARN")
	if warnings == 0 || warnings > 4 {
		t.Errorf("%d warnings for a 5 s outage, want 1 to 4 (backoff, no flooding):\n%s", warnings, out)
	}
}

// TestSecurePort checks the secure mode: wwclient connects from port 987
// and is served; from an unprivileged port the server refuses it; and
// run by a user who may not bind 987 it fails saying so.
func TestSecurePort(t *testing.T) {
	needRoot(t)
	d := newDaemon(t, true)
	tests := []struct {
		name     string
		cfg      Config
		wantCode int
	}{
		{name: "privileged port", cfg: Config{Secure: true}},
		{name: "fixed privileged port", cfg: Config{SourcePort: 986}},
		{name: "unprivileged port refused", cfg: Config{Secure: false}, wantCode: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Server, cfg.Port, cfg.Interval, cfg.WWID = "127.0.0.1", d.port(t), interval, testWWID
			root := t.TempDir()
			a, err := New(Options{Config: &cfg, Root: root})
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Sync(context.Background())
			var se *nodeclient.StatusError
			switch {
			case tt.wantCode == 0 && err != nil:
				t.Fatalf("Sync: %v", err)
			case tt.wantCode == 0:
				if !fileIs(filepath.Join(root, "etc/secret"), "s3cret\n")() {
					t.Error("etc/secret not applied")
				}
			case !errors.As(err, &se) || se.Code != tt.wantCode:
				t.Fatalf("Sync error = %v, want status %d", err, tt.wantCode)
			}
		})
	}

	t.Run("not privileged", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds wwclient")
		}
		dir, err := os.MkdirTemp("", "wwclient-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(dir, "wwclient")
		build := exec.Command("go", "build", "-o", bin, "github.com/wwboot/wwboot/cmd/wwclient")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		conf := filepath.Join(dir, "wwclient.conf")
		sitetest.WriteMode(t, conf, "WWID='"+testWWID+"'\nWW_IPADDR='127.0.0.1'\nWW_PORT='"+strings.TrimPrefix(d.addr, "127.0.0.1:")+
			"'\nWW_SECURE='true'\nWW_INTERVAL='1'\n", 0o644)
		cmd := exec.Command(bin, "--once", "--config", conf, "--root", filepath.Join(dir, "root"), "--cmdline", "/nonexistent")
		cmd.Env = []string{}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("wwclient as nobody: %v, want exit status 1\n%s", err, out)
		}
		for _, want := range []string{"permission denied", "source port 987", "warewulf secure"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestDamagedOverlayIsRefused damages the runtime overlay on the
// server's disk after it was built, leaving the node as it was: the
// gzip form wwclient asks for is made from the uncompressed archive the
// pack holds, which the server checks against the sha256 the build
// recorded and refuses to send (a form sent as stored is checked by
// wwclient: internal/provision's TestStageOneRefusesADamagedOverlay).
func TestDamagedOverlayIsRefused(t *testing.T) {
	d := newDaemon(t, false)
	sync := func() (string, error) {
		t.Helper()
		root := t.TempDir()
		a, err := New(Options{Config: &Config{Server: "127.0.0.1", Port: d.port(t), Interval: interval, WWID: testWWID}, Root: root})
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Sync(context.Background())
		return root, err
	}
	if _, err := sync(); err != nil {
		t.Fatalf("intact overlay: %v", err)
	}
	// The node's own archive, uncompressed, a section of its pack, in
	// the batch its pack name links to (the formats are in
	// internal/overlay/batch.go and pack.go).
	p := filepath.Join(d.built, "n1.pack")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	const batchMagic, magic = "wwboot overlay pack 3\n", "wwboot overlay pack 2\n"
	if !strings.HasPrefix(string(data), batchMagic) {
		t.Fatalf("%s is no batch", p)
	}
	table := data[len(batchMagic)+4 : len(batchMagic)+4+int(binary.BigEndian.Uint32(data[len(batchMagic):]))]
	start := -1
	for len(table) > 0 {
		l := int(binary.BigEndian.Uint16(table))
		if string(table[2:2+l]) == "n1" {
			start = int(binary.BigEndian.Uint64(table[2+l:]))
		}
		table = table[2+l+16:]
	}
	if start < 0 {
		t.Fatal("n1 is not in the batch its pack name links to")
	}
	n := int(binary.BigEndian.Uint32(data[start+len(magic):]))
	var idx map[string]struct {
		Sections map[string]struct{ Off, Len int }
	}
	if err := json.Unmarshal(data[start+len(magic)+4:start+len(magic)+4+n], &idx); err != nil {
		t.Fatal(err)
	}
	gz, ok := idx["runtime"].Sections["own.img"]
	if !ok {
		t.Fatalf("no uncompressed archive built: %v", idx["runtime"].Sections)
	}
	data[start+len(magic)+4+n+gz.Off+gz.Len/2] ^= 0xff
	// A file of its own, damaged: the batch is other nodes' too.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	sitetest.WriteMode(t, p, string(data), st.Mode().Perm())
	// Loaded again, the server checks the files anew and reads the
	// damaged bytes.
	d.change(t, func() {})
	root, err := sync()
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged overlay: Sync error %v, want it refused as damaged", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/keep")); !os.IsNotExist(err) {
		t.Errorf("etc/keep of the damaged overlay applied (%v)", err)
	}
}
