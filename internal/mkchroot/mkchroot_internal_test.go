package mkchroot

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeELF returns a minimal 64-bit ELF file, with a PT_INTERP program
// header (dynamically linked) or a PT_LOAD one (static).
func fakeELF(dynamic bool) []byte {
	var b bytes.Buffer
	hdr := elf64Header{Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: 1, Type: 2, Machine: 62, Version: 1}
	copy(hdr.Ident[:], "\x7fELF\x02\x01\x01")
	_ = binary.Write(&b, binary.LittleEndian, hdr)
	ptype := uint32(1) // PT_LOAD
	if dynamic {
		ptype = 3 // PT_INTERP
	}
	_ = binary.Write(&b, binary.LittleEndian, elf64Prog{Type: ptype})
	return b.Bytes()
}

type elf64Header struct {
	Ident                                                [16]byte
	Type, Machine                                        uint16
	Version                                              uint32
	Entry, Phoff, Shoff                                  uint64
	Flags                                                uint32
	Ehsize, Phentsize, Phnum, Shentsize, Shnum, Shstrndx uint16
}

type elf64Prog struct {
	Type, Flags                             uint32
	Off, Vaddr, Paddr, Filesz, Memsz, Align uint64
}

// fakeHost builds a host whose files live under a temp root.
type fakeHost struct {
	files map[string]string // path -> content
	tools []string          // found by lookPath, under the root
	euid  int
	probe error

	mu     sync.Mutex
	probed []string
}

func (f *fakeHost) host(t *testing.T) host {
	t.Helper()
	root := t.TempDir()
	for p, content := range f.files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return host{
		root: root,
		lookPath: func(name string) (string, error) {
			for _, tool := range f.tools {
				if tool == name {
					return filepath.Join(root, "usr/bin", name), nil
				}
			}
			return "", errors.New("not found")
		},
		euid:   f.euid,
		goarch: "amd64",
		probe: func(_ context.Context, url string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.probed = append(f.probed, url)
			return f.probe
		},
	}
}

type availability struct {
	Name      string
	Available bool
	Missing   string
}

func summarize(ts []Template) []availability {
	var out []availability
	for _, t := range ts {
		out = append(out, availability{t.Name, t.Available, t.Missing})
	}
	return out
}

func debianHostFiles() map[string]string {
	return map[string]string{
		"/usr/sbin/debootstrap":                          "#!/bin/sh\n",
		"/usr/share/debootstrap/scripts/bookworm":        "",
		"/usr/share/debootstrap/scripts/trixie":          "",
		"/usr/share/debootstrap/scripts/gutsy":           "",
		"/usr/share/keyrings/debian-archive-keyring.gpg": "",
		"/bin/busybox":                           string(fakeELF(false)),
		"/etc/os-release":                        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n",
		"/etc/apt/sources.list.d/debian.sources": "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n",
	}
}

func TestTemplatesAvailability(t *testing.T) {
	const (
		noDebootstrap = "debootstrap (apt-get install debootstrap; on EL: dnf install debootstrap from EPEL)"
		noDebianKey   = "the debian archive keyring /usr/share/keyrings/debian-archive-keyring.gpg (package debian-archive-keyring)"
		noUbuntuKey   = "the ubuntu archive keyring /usr/share/keyrings/ubuntu-archive-keyring.gpg (package ubuntu-keyring)"
		noDNF         = "dnf (on EL and Fedora it is the system's; on Debian: apt-get install dnf)"
	)
	withUbuntuKey := debianHostFiles()
	withUbuntuKey["/usr/share/keyrings/ubuntu-archive-keyring.gpg"] = ""
	dynamicBusybox := debianHostFiles()
	dynamicBusybox["/bin/busybox"] = string(fakeELF(true))
	oldDebootstrap := debianHostFiles()
	delete(oldDebootstrap, "/usr/share/debootstrap/scripts/trixie")

	for _, tc := range []struct {
		name       string
		host       *fakeHost
		want       []availability
		wantProbed []string
	}{
		{
			name: "bare host, not root",
			host: &fakeHost{euid: 1000},
			want: []availability{
				{"busybox", false, "busybox-static (apt-get install busybox-static)"},
				{"debian-bookworm", false, noDebootstrap + "; " + noDebianKey + "; root (debootstrap must run as root)"},
				{"debian-trixie", false, noDebootstrap + "; " + noDebianKey + "; root (debootstrap must run as root)"},
				{"ubuntu-noble", false, noDebootstrap + "; " + noUbuntuKey + "; root (debootstrap must run as root)"},
				{"rocky-9", false, noDNF + "; root (dnf --installroot must run as root)"},
				{"almalinux-9", false, noDNF + "; root (dnf --installroot must run as root)"},
				{"fedora-42", false, noDNF + "; root (dnf --installroot must run as root)"},
			},
		},
		{
			name: "debian host as root, no ubuntu keyring: no probe",
			host: &fakeHost{euid: 0, files: debianHostFiles()},
			want: []availability{
				{"busybox", true, ""},
				{"debian-bookworm", true, ""},
				{"debian-trixie", true, ""},
				{"ubuntu-noble", false, noUbuntuKey},
				{"rocky-9", false, noDNF},
				{"almalinux-9", false, noDNF},
				{"fedora-42", false, noDNF},
			},
		},
		{
			name:       "ubuntu keyring and reachable mirror",
			host:       &fakeHost{euid: 0, files: withUbuntuKey, tools: []string{"dnf"}},
			wantProbed: []string{"http://archive.ubuntu.com/ubuntu/dists/noble/Release"},
			want: []availability{
				{"busybox", true, ""},
				{"debian-bookworm", true, ""},
				{"debian-trixie", true, ""},
				{"ubuntu-noble", true, ""},
				{"rocky-9", true, ""},
				{"almalinux-9", true, ""},
				{"fedora-42", true, ""},
			},
		},
		{
			name:       "ubuntu mirror unreachable",
			host:       &fakeHost{euid: 0, files: withUbuntuKey, probe: errors.New("dial tcp: i/o timeout")},
			wantProbed: []string{"http://archive.ubuntu.com/ubuntu/dists/noble/Release"},
			want: []availability{
				{"busybox", true, ""},
				{"debian-bookworm", true, ""},
				{"debian-trixie", true, ""},
				{"ubuntu-noble", false, "a reachable Ubuntu mirror (dial tcp: i/o timeout; name one with the mirror option)"},
				{"rocky-9", false, noDNF},
				{"almalinux-9", false, noDNF},
				{"fedora-42", false, noDNF},
			},
		},
		{
			name: "dynamic busybox, debootstrap without trixie",
			host: &fakeHost{euid: 0, files: func() map[string]string {
				m := oldDebootstrap
				m["/bin/busybox"] = dynamicBusybox["/bin/busybox"]
				return m
			}()},
			want: []availability{
				{"busybox", false, "<dynamic>"},
				{"debian-bookworm", true, ""},
				{"debian-trixie", false, "a debootstrap that knows trixie (this one has no trixie script; upgrade debootstrap)"},
				{"ubuntu-noble", false, noUbuntuKey},
				{"rocky-9", false, noDNF},
				{"almalinux-9", false, noDNF},
				{"fedora-42", false, noDNF},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.host.host(t)
			got := summarize(templates(context.Background(), h, ""))
			for i := range tc.want {
				if tc.want[i].Missing == "<dynamic>" {
					tc.want[i].Missing = "a statically linked busybox (" + h.path("/bin/busybox") +
						" is dynamically linked; apt-get install busybox-static)"
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("templates (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantProbed, tc.host.probed); diff != "" {
				t.Errorf("probed URLs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateRefuses(t *testing.T) {
	notEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(notEmpty, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		host     *fakeHost
		template string
		dest     string
		opts     Options
		wantErr  string
	}{
		{name: "unknown template", host: &fakeHost{}, template: "centos-6", wantErr: "unknown template (have busybox, debian-bookworm"},
		{name: "destination not empty", host: &fakeHost{files: debianHostFiles()}, template: "busybox", dest: notEmpty, wantErr: "is not empty"},
		{name: "destination is a file", host: &fakeHost{files: debianHostFiles()}, template: "busybox", dest: aFile, wantErr: "is not a directory"},
		{name: "destination missing", host: &fakeHost{files: debianHostFiles()}, template: "busybox", dest: "/nonexistent/x", wantErr: "no such file"},
		{name: "unavailable template says why", host: &fakeHost{euid: 1000}, template: "rocky-9", wantErr: "cannot be used on this host: needs dnf"},
		{name: "busybox takes no packages", host: &fakeHost{files: debianHostFiles()}, template: "busybox",
			opts: Options{Packages: []string{"vim"}}, wantErr: "installs no packages"},
		{name: "bad debian package name", host: &fakeHost{files: debianHostFiles()}, template: "debian-bookworm",
			opts: Options{Packages: []string{"vim,evil"}}, wantErr: `package "vim,evil": not a valid Debian package name`},
		{name: "option as dnf package", host: &fakeHost{tools: []string{"dnf"}}, template: "rocky-9",
			opts: Options{Packages: []string{"--nogpgcheck"}}, wantErr: `package "--nogpgcheck": not a package name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := tc.dest
			if dest == "" {
				dest = t.TempDir()
			}
			err := create(context.Background(), tc.host.host(t), tc.template, dest, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("create = %v, want an error containing %q", err, tc.wantErr)
			}
		})
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

func TestRunTool(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: tools run in a private mount namespace")
	}
	t.Run("streams output", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := runTool(context.Background(), Options{Log: discard(), Stdout: &out, Stderr: &errOut},
			[]string{"/bin/sh", "-c", "echo out; echo err >&2"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff("out\n|err\n", out.String()+"|"+errOut.String()); diff != "" {
			t.Error(diff)
		}
	})
	t.Run("failure names the tool", func(t *testing.T) {
		err := runTool(context.Background(), Options{Log: discard()}, []string{"/bin/sh", "-c", "exit 3"})
		if err == nil || !strings.Contains(err.Error(), "sh: exit status 3") {
			t.Errorf("runTool = %v", err)
		}
	})
	t.Run("mounts stay private", func(t *testing.T) {
		dir := t.TempDir()
		err := runTool(context.Background(), Options{Log: discard()},
			[]string{"/bin/sh", "-c", "mount -t tmpfs tmpfs " + dir})
		if err != nil {
			t.Fatal(err)
		}
		mounts, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(mounts), " "+dir+" ") {
			t.Errorf("a tool's mount leaked to the host: %s", dir)
		}
	})
	t.Run("cancel kills the process group", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &signalWriter{ready: make(chan struct{})}
		go func() {
			<-w.ready
			cancel()
		}()
		// The background sleep keeps stdout open: Run returns only once
		// the whole group is dead.
		err := runTool(ctx, Options{Log: discard(), Stdout: w},
			[]string{"/bin/sh", "-c", "sleep 1000 & echo started; wait"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("runTool after cancel = %v", err)
		}
	})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
