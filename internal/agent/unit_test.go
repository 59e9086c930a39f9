package agent

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	sitetest.WriteMode(t, filepath.Join(dir, "cmdline"), "quiet wwid=aa:bb:cc:dd:ee:09 ro\n", 0o644)
	sitetest.WriteMode(t, filepath.Join(dir, "cmdline-iface"), "wwid=[eth7]\n", 0o644)
	sitetest.WriteMode(t, filepath.Join(dir, "net/eth7/address"), "aa:bb:cc:dd:ee:07\n", 0o644)
	sitetest.WriteMode(t, filepath.Join(dir, "dmi/chassis_asset_tag"), "rack4-key\n", 0o644)
	sitetest.WriteMode(t, filepath.Join(dir, "dmi/product_uuid"), "u-1\n", 0o644)
	base := "# comment\nWWID='aa:bb:cc:dd:ee:01'\nWW_IPADDR='10.0.0.1/16'\nWW_PORT='9873'\nWW_TLS='false'\n" +
		"WW_SECURE='true'\nWW_INTERVAL='60'\n"
	tests := []struct {
		name    string
		file    string
		cmdline string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "rendered file", file: base,
			want: Config{Server: "10.0.0.1", Port: 9873, TLSPort: 9874, Secure: true, Interval: time.Minute,
				WWID: "aa:bb:cc:dd:ee:01", AssetKey: "rack4-key", UUID: "u-1"}},
		{name: "wwid from the kernel", file: base, cmdline: "cmdline",
			want: Config{Server: "10.0.0.1", Port: 9873, TLSPort: 9874, Secure: true, Interval: time.Minute,
				WWID: "aa:bb:cc:dd:ee:09", AssetKey: "rack4-key", UUID: "u-1"}},
		{name: "wwid of an interface", file: base, cmdline: "cmdline-iface",
			want: Config{Server: "10.0.0.1", Port: 9873, TLSPort: 9874, Secure: true, Interval: time.Minute,
				WWID: "aa:bb:cc:dd:ee:07", AssetKey: "rack4-key", UUID: "u-1"}},
		{name: "environment wins", file: base + "WW_CLIENTPORT=0\n", env: map[string]string{"WW_IPADDR": "192.168.1.1", "WW_CLIENTPORT": "900"},
			want: Config{Server: "192.168.1.1", Port: 9873, TLSPort: 9874, Secure: true, SourcePort: 900, Interval: time.Minute,
				WWID: "aa:bb:cc:dd:ee:01", AssetKey: "rack4-key", UUID: "u-1"}},
		{name: "ipv6 and quoting", file: "WWID=aa:bb:cc:dd:ee:01\nexport WW_IPADDR6=\"fd00::1\"\nWW_TLS=true\nWW_TLSPORT=443 # https\nWW_INTERVAL=0\nWW_TLSCERT='/a b/it'\\''s.crt'\n",
			want: Config{Server: "fd00::1", Port: 9873, TLSPort: 443, TLS: true, Interval: 300 * time.Second,
				WWID: "aa:bb:cc:dd:ee:01", CACert: "/a b/it's.crt", AssetKey: "rack4-key", UUID: "u-1"}},
		{name: "no server", file: "WWID=aa:bb:cc:dd:ee:01\n", wantErr: "no server address"},
		{name: "no identity", file: "WW_IPADDR=10.0.0.1\n", wantErr: "no node identity"},
		{name: "bad port", file: base + "WW_PORT=http\n", wantErr: `WW_PORT="http"`},
		{name: "bad bool", file: base + "WW_SECURE=maybe\n", wantErr: `WW_SECURE="maybe"`},
		{name: "bad line", file: base + "just words\n", wantErr: "wwclient.conf:8: expected KEY=value"},
		{name: "open quote", file: base + "WW_PORT='9873\n", wantErr: "unterminated single quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "wwclient.conf")
			sitetest.WriteMode(t, p, tt.file, 0o644)
			src := Sources{Getenv: func(k string) string { return tt.env[k] }, SysClassNet: filepath.Join(dir, "net"), DMIDir: filepath.Join(dir, "dmi")}
			if tt.cmdline != "" {
				src.Cmdline = filepath.Join(dir, tt.cmdline)
			}
			got, err := LoadConfig(p, src)
			if tt.wantErr != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.wantErr)) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// archive writes a newc archive of the given entries.
func archive(t *testing.T, add func(w *cpio.Writer) error) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cpio.NewWriter(&b)
	if err := add(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := compress.NewWriter(&b, compress.Gzip, compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestReadOverlay reads what the server sends: compressed, several
// archives one after the other, a later entry replacing an earlier one.
func TestReadOverlay(t *testing.T) {
	part1 := archive(t, func(w *cpio.Writer) error {
		if err := w.AddDir("etc", 0o755, 0, 0); err != nil {
			return err
		}
		if err := w.AddFile("etc/a", 0o644, 0, 0, []byte("one")); err != nil {
			return err
		}
		return w.AddFile("etc/b", 0o644, 0, 0, []byte("b"))
	})
	part2 := archive(t, func(w *cpio.Writer) error {
		if err := w.AddFile("etc/a", 0o600, 0, 0, []byte("two")); err != nil {
			return err
		}
		return w.AddSymlink("etc/l", "a", 0, 0)
	})
	summary := func(es []*entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.name+" "+e.mode.String()+" "+string(e.data)+e.target)
		}
		return out
	}
	want := []string{"etc drwxr-xr-x ", "etc/a -rw------- two", "etc/b -rw-r--r-- b", "etc/l Lrwxrwxrwx a"}
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"plain", append(append([]byte{}, part1...), part2...)},
		{"gzip members", append(gz(t, part1), gz(t, part2)...)},
		{"one gzip stream", gz(t, append(append([]byte{}, part1...), part2...))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			es, err := readOverlay(tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, summary(es)); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := readOverlay(part1[:len(part1)-40]); err == nil {
		t.Error("a truncated archive was accepted")
	}
}

// TestApply covers the cases the daemon test does not reach.
func TestApply(t *testing.T) {
	root := t.TempDir()
	sitetest.WriteMode(t, filepath.Join(root, "usr/lib/x"), "", 0o644)
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	sitetest.WriteMode(t, filepath.Join(root, "blocked/file"), "", 0o644)
	sitetest.WriteMode(t, filepath.Join(root, "notdir"), "a file\n", 0o644)
	sitetest.WriteMode(t, filepath.Join(root, "etc/old"), "placed before\n", 0o644)
	if err := os.Mkdir(filepath.Join(root, "etc/olddir"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := &applier{root: root, chown: os.Geteuid() == 0}
	entries := []*entry{
		{name: "blocked", mode: 0o644, data: []byte("a file over a directory\n")},
		{name: "etc", mode: fs.ModeDir | 0o700},
		{name: "etc/sticky", mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{name: "lib", mode: fs.ModeDir | 0o755},
		{name: "lib/mod.conf", mode: 0o644, data: []byte("through the link\n")},
		{name: "notdir", mode: fs.ModeDir | 0o755},
		{name: "setuid", mode: fs.ModeSetuid | 0o755, data: []byte("#!/bin/sh\n")},
	}
	placed, changed, err := a.apply(entries, []string{"etc/old", "etc/olddir", "../escape"})
	if err == nil {
		t.Fatal("no error for a file over a directory and a directory over a file")
	}
	for _, want := range []string{"/blocked: is a directory on the node", "/notdir: is not a directory on the node"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if diff := cmp.Diff([]string{"blocked", "lib/mod.conf", "setuid"}, placed); diff != "" {
		t.Errorf("placed (-want +got):\n%s", diff)
	}
	// etc/sticky made, lib/mod.conf and setuid written, etc/old removed.
	if changed != 4 {
		t.Errorf("changed = %d, want 4", changed)
	}
	check := map[string]string{}
	for _, p := range []string{"etc", "etc/sticky", "usr/lib/mod.conf", "setuid", "etc/olddir", "lib"} {
		st, err := os.Lstat(filepath.Join(root, p))
		if err != nil {
			check[p] = err.Error()
			continue
		}
		check[p] = st.Mode().String()
	}
	wantModes := map[string]string{
		"etc":              "drwxr-xr-x", // existing: kept
		"etc/sticky":       "dtrwxrwxrwx",
		"usr/lib/mod.conf": "-rw-r--r--",
		"setuid":           "urwxr-xr-x",
		"etc/olddir":       "drwxr-xr-x", // directories are never removed
		"lib":              "Lrwxrwxrwx", // the link is kept
	}
	if diff := cmp.Diff(wantModes, check); diff != "" {
		t.Errorf("modes (-want +got):\n%s", diff)
	}
	if !gone(filepath.Join(root, "etc/old"))() {
		t.Error("etc/old, placed by the previous overlay, was not removed")
	}
	// Applying the same again changes nothing.
	if _, changed, _ := a.apply(entries, placed); changed != 0 {
		t.Errorf("second apply changed %d entries, want 0", changed)
	}
}
