package stage1

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/testkit/treetest"
)

// fakeSys records what stage one would do to the machine.
type fakeSys struct {
	modules  []string
	mounts   []string
	unmounts int
	switched []string
	reboots  int
	// moduleErrs are LoadModule's answers by path.
	moduleErrs map[string]error
	// logFile, when set, gets a line for each mount and DiskLinks call
	// (the test's scripts write theirs there too).
	logFile string
	newRoot string
}

func (f *fakeSys) log(line string) {
	if f.logFile == "" {
		return
	}
	l, err := os.OpenFile(f.logFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	fmt.Fprintln(l, line)
}

func (f *fakeSys) Mount(dev, fstype, dir string) error {
	rel, _ := filepath.Rel(f.newRoot, dir)
	f.log("mount " + dev + " " + fstype + " /" + rel)
	return nil
}

func (f *fakeSys) DiskLinks() error { f.log("disk links"); return nil }

var errSwitched = errors.New("switched (fake)")

func (f *fakeSys) MountKernelFS() error { return nil }
func (f *fakeSys) LoadModule(p string) error {
	f.modules = append(f.modules, p)
	return f.moduleErrs[p]
}
func (f *fakeSys) Reboot() error { f.reboots++; return nil }
func (f *fakeSys) MountRoot(root, size, dir string) error {
	f.mounts = append(f.mounts, root+" "+size)
	f.log("mount root")
	return os.MkdirAll(dir, 0o755)
}

func (f *fakeSys) UnmountRoot(dir string) error {
	f.unmounts++
	return os.RemoveAll(dir)
}

func (f *fakeSys) SwitchRoot(dir, init string, env []string) error {
	f.switched = append(append(f.switched, dir, init), env...)
	return errSwitched
}

type fakeNet struct{ calls int }

func (n *fakeNet) Configure(_ context.Context, hw net.HardwareAddr, static *StaticIP) (string, error) {
	n.calls++
	return "eth0 192.0.2.11/24 (DHCP)", nil
}

// fakeDaemon serves a node's image (gzip, ETag = sha256) and system
// overlay (zstd, two archives), refuses the runtime overlay as over TLS,
// and corrupts the first badImages image responses.
type fakeDaemon struct {
	t         *testing.T
	image     []byte
	system    []byte
	badImages atomic.Int32
	// badAt is the offset of the corrupted byte from the end (default
	// 20, the gzip trailer's region); half the length hits the middle of
	// the compressed data.
	badAt   int
	queries []string
}

func (d *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.queries = append(d.queries, r.URL.Path+"?"+r.URL.RawQuery)
	switch {
	case strings.HasPrefix(r.URL.Path, "/image/52:54:00:e2:e0:01"):
		sum := sha256.Sum256(d.image)
		w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
		body := d.image
		if d.badImages.Add(-1) >= 0 {
			body = bytes.Clone(body)
			at := d.badAt
			if at == 0 {
				at = 20
			}
			body[len(body)-at] ^= 1
		}
		http.ServeContent(w, r, "image.img.gz", time.Time{}, bytes.NewReader(body))
	case strings.HasPrefix(r.URL.Path, "/system/52:54:00:e2:e0:01"):
		w.Header().Set("ETag", `"overlay-etag"`)
		http.ServeContent(w, r, "system.img.zst", time.Time{}, bytes.NewReader(d.system))
	case strings.HasPrefix(r.URL.Path, "/runtime/"):
		http.Error(w, "the runtime overlay is served only over HTTPS", http.StatusForbidden)
	default:
		http.NotFound(w, r)
	}
}

func TestRun(t *testing.T) {
	img := append(archive(t, compress.Gzip,
		ent{name: "init", mode: 0o755, body: "#!/bin/sh\n"},
		ent{name: "etc", mode: fs.ModeDir | 0o755},
		ent{name: "etc/os-release", mode: 0o644, body: "ID=debian\n"}), make([]byte, 512)...)
	sys := append(archive(t, compress.Zstd, ent{name: "warewulf", mode: fs.ModeDir | 0o755}, ent{name: "warewulf/config", mode: 0o644, body: "WWROOT=tmpfs\n"}),
		archive(t, compress.Zstd, ent{name: "etc/hostname", mode: 0o644, body: "n1\n"})...)
	tests := []struct {
		name         string
		badImages    int32
		badAt        int
		attempts     int
		wantSwitch   bool
		wantUnmounts int
		wantReboots  int
		wantConsole  []string
	}{
		{name: "boots", attempts: 3, wantSwitch: true,
			wantConsole: []string{"loaded 2 of 2 modules", "network: eth0 192.0.2.11/24 (DHCP)", "image: 3 files", "sha256 ", "... ok",
				"system: 3 files", "runtime not loaded", "switching root to tmpfs and running /init"}},
		{name: "corrupted image refused, then booted", badImages: 1, attempts: 3, wantSwitch: true, wantUnmounts: 1,
			wantConsole: []string{`step "image" failed`, "retrying in", "(attempt 2 of 3)", "switching root"}},
		{name: "corruption mid-stream named as a checksum failure", badImages: 1, badAt: len(img) / 2, attempts: 3, wantSwitch: true, wantUnmounts: 1,
			wantConsole: []string{`step "image" failed`, "sha256 mismatch", "unpacking had failed with", "(attempt 2 of 3)", "switching root"}},
		{name: "gives up and reboots", badImages: 5, attempts: 2, wantUnmounts: 2, wantReboots: 1,
			wantConsole: []string{`step "image" failed`, "ERROR: giving up after 2 attempts", "rebooting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDaemon{t: t, image: img, system: sys, badAt: tt.badAt}
			d.badImages.Store(tt.badImages)
			ts := httptest.NewServer(d)
			defer ts.Close()
			dir := t.TempDir()
			modules := filepath.Join(dir, "modules")
			if err := os.WriteFile(modules, []byte("/lib/modules/6.1/a.ko\n/lib/modules/6.1/b.ko\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			fs, fn := &fakeSys{}, &fakeNet{}
			var console bytes.Buffer
			s := &Stage{Sys: fs, Net: fn, Client: ts.Client(), Console: &console, NewRoot: filepath.Join(dir, "newroot"), Modules: modules,
				Backoff: func(int) time.Duration { return time.Millisecond }, Resumes: 2, Now: time.Now}
			p, err := ParseCmdline("BOOT_IMAGE=kernel initrd=initramfs wwid=52:54:00:e2:e0:01 wwserver=" + ts.URL +
				" wwtoken=tok wwuuid=u-1 wwroot=tmpfs wwinit.tmpfs.size=90% wwstage1.attempts=" + strconv.Itoa(tt.attempts))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Run(context.Background(), p)
			if tt.wantSwitch {
				if !errors.Is(err, errSwitched) {
					t.Fatalf("Run: %v\n%s", err, console.String())
				}
				want := []string{s.NewRoot, "/init", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "WWSTAGE1=1", "TERM=linux", "HOME=/"}
				if diff := cmp.Diff(want, fs.switched); diff != "" {
					t.Errorf("switch root (-want +got):\n%s", diff)
				}
				got := treetest.Read(t, s.NewRoot)
				wantTree := map[string]string{"init": "#!/bin/sh\n", "etc": "/", "etc/os-release": "ID=debian\n", "etc/hostname": "n1\n",
					"warewulf": "/", "warewulf/config": "WWROOT=tmpfs\n"}
				if diff := cmp.Diff(wantTree, got); diff != "" {
					t.Errorf("new root (-want +got):\n%s", diff)
				}
			} else if fs.switched != nil {
				t.Errorf("switched root after failures")
			}
			if diff := cmp.Diff([]string{"/lib/modules/6.1/a.ko", "/lib/modules/6.1/b.ko"}, fs.modules); diff != "" {
				t.Errorf("modules (-want +got):\n%s", diff)
			}
			if fs.unmounts != tt.wantUnmounts || fs.reboots != tt.wantReboots || fn.calls != 1 {
				t.Errorf("%d unmounts, %d reboots, %d network set-ups; want %d, %d, 1", fs.unmounts, fs.reboots, fn.calls, tt.wantUnmounts, tt.wantReboots)
			}
			if fs.mounts[0] != "tmpfs 90%" {
				t.Errorf("mounted %q", fs.mounts[0])
			}
			if !strings.Contains(d.queries[0], "token=tok") || !strings.Contains(d.queries[0], "uuid=u-1") || !strings.Contains(d.queries[0], "compress=zst") {
				t.Errorf("first request %q lacks the token, uuid or compression", d.queries[0])
			}
			for _, want := range tt.wantConsole {
				if !strings.Contains(console.String(), want) {
					t.Errorf("console lacks %q:\n%s", want, console.String())
				}
			}
			if strings.Contains(console.String(), "tok&") || strings.Contains(console.String(), "token=tok") {
				t.Errorf("console shows the token:\n%s", console.String())
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:e2:e0:01")
	tests := []struct {
		name    string
		in      string
		want    *Params
		wantErr string
	}{
		{
			name: "DHCP defaults",
			in:   "quiet wwid=52:54:00:e2:e0:01 wwserver=http://192.0.2.1:9873/",
			want: &Params{HWAddr: mac, Server: "http://192.0.2.1:9873", Root: "initramfs", Compress: "zst", Attempts: 10},
		},
		{
			name: "static address and everything else",
			in: "wwid=52:54:00:e2:e0:01 wwserver=http://192.0.2.1:9873 ip=192.0.2.11::192.0.2.254:255.255.255.0:n1:eth0:none " +
				"wwroot=/dev/vda1 wwcompress=gz wwtoken=t wwassetkey=k wwuuid=u wwstage1.attempts=3",
			want: &Params{HWAddr: mac, Server: "http://192.0.2.1:9873", Root: "/dev/vda1", Compress: "gz", Attempts: 3, Token: "t", AssetKey: "k", UUID: "u",
				Static: &StaticIP{Addr: net.IPNet{IP: net.IPv4(192, 0, 2, 11).To4(), Mask: net.IPv4Mask(255, 255, 255, 0)}, Gateway: net.IPv4(192, 0, 2, 254).To4()}},
		},
		{name: "ip=dhcp", in: "wwid=52:54:00:e2:e0:01 wwserver=http://s ip=dhcp",
			want: &Params{HWAddr: mac, Server: "http://s", Root: "initramfs", Compress: "zst", Attempts: 10}},
		{name: "no wwid", in: "wwserver=http://s", wantErr: "no wwid="},
		{name: "no server", in: "wwid=52:54:00:e2:e0:01", wantErr: "no wwserver="},
		{name: "bad server", in: "wwid=52:54:00:e2:e0:01 wwserver=ftp://s", wantErr: "wwserver=ftp://s"},
		{name: "bad root", in: "wwid=52:54:00:e2:e0:01 wwserver=http://s wwroot=nfs", wantErr: "wwroot=nfs"},
		{name: "root by partition label", in: "wwid=52:54:00:e2:e0:01 wwserver=http://s wwroot=/dev/disk/by-partlabel/rootfs",
			want: &Params{HWAddr: mac, Server: "http://s", Root: "/dev/disk/by-partlabel/rootfs", Compress: "zst", Attempts: 10}},
		{name: "root by file system UUID", in: "wwid=52:54:00:e2:e0:01 wwserver=http://s wwroot=UUID=1234-ABCD",
			want: &Params{HWAddr: mac, Server: "http://s", Root: "UUID=1234-ABCD", Compress: "zst", Attempts: 10}},
		{name: "unknown root form", in: "wwid=52:54:00:e2:e0:01 wwserver=http://s wwroot=FOO=x", wantErr: "wwroot=FOO=x: unknown form FOO="},
		{name: "root by id", in: "wwid=52:54:00:e2:e0:01 wwserver=http://s wwroot=/dev/disk/by-id/virtio-x", wantErr: "no udev"},
		{name: "bad ip", in: "wwid=52:54:00:e2:e0:01 wwserver=http://s ip=300.1.1.1::", wantErr: "ip=300.1.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCmdline(tt.in)
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRootSize(t *testing.T) {
	tests := []struct {
		name, root, size, want string
	}{
		{name: "initramfs has no limit, as the kernel's rootfs", root: "initramfs", want: "0"},
		{name: "initramfs with an explicit size", root: "initramfs", size: "80%", want: "80%"},
		{name: "tmpfs keeps the kernel default", root: "tmpfs", want: ""},
		{name: "tmpfs with a size", root: "tmpfs", size: "4g", want: "4g"},
		{name: "disk", root: "/dev/vda1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rootSize(&Params{Root: tt.root, TmpfsSize: tt.size}); got != tt.want {
				t.Errorf("rootSize = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLoadModules(t *testing.T) {
	dir := t.TempDir()
	modules := filepath.Join(dir, "modules")
	if err := os.WriteFile(modules, []byte("/m/a.ko\n\n/m/hv_vmbus.ko\n/m/hv_netvsc.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := &fakeSys{moduleErrs: map[string]error{
		"/m/hv_vmbus.ko":  syscall.ENODEV,
		"/m/hv_netvsc.ko": fmt.Errorf("%w: unknown symbols", syscall.ENOENT),
	}}
	var console bytes.Buffer
	s := &Stage{Sys: fs, Console: &console, Modules: modules, Now: time.Now}
	s.loadModules()
	if diff := cmp.Diff([]string{"/m/a.ko", "/m/hv_vmbus.ko", "/m/hv_netvsc.ko"}, fs.modules); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
	out := console.String()
	for _, want := range []string{"module /m/hv_netvsc.ko: no such file or directory: unknown symbols", "loaded 1 of 3 modules in", ", 1 found no device"} {
		if !strings.Contains(out, want) {
			t.Errorf("console lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "module /m/hv_vmbus.ko") {
		t.Errorf("a driver without its device got a line of its own:\n%s", out)
	}
}
