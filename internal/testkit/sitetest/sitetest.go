// Package sitetest lays out an installation in a test's temporary
// directory: a warewulf.conf whose paths: section puts everything (the
// configuration, state, data, cache) under one root, and helpers to put
// files there. Tests of every layer use it, so it imports only the
// configuration format; a test that needs the site layer opens one over
// Install.Config itself.
package sitetest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wwboot/wwboot/internal/config"
)

// DefaultConf is the part of warewulf.conf New writes before the paths
// when the caller gives none: a server address and its network.
const DefaultConf = "ipaddr: 10.0.0.254\nnetmask: 255.255.255.0\n"

// Install is an installation under Root.
type Install struct {
	Root string
	// ConfPath is Root/etc/warewulf/warewulf.conf.
	ConfPath string
	// Config is warewulf.conf as New loaded it.
	Config *config.Config
}

// New writes warewulf.conf with conf (top-level keys and sections; ""
// is DefaultConf) followed by a paths: section rooted in a new temporary
// directory, and loads it. A warning or an error loading it fails the
// test.
func New(t testing.TB, conf string) *Install {
	t.Helper()
	if conf == "" {
		conf = DefaultConf
	}
	root := t.TempDir()
	in := &Install{Root: root, ConfPath: filepath.Join(root, "etc", "warewulf", "warewulf.conf")}
	Write(t, in.ConfPath, conf+Paths(root))
	in.Config = in.Load(t)
	return in
}

// Paths is a paths: section putting an installation under root.
func Paths(root string) string {
	return "\npaths:\n  sysconfdir: " + filepath.Join(root, "etc") +
		"\n  hostroot: " + root +
		"\n  localstatedir: " + filepath.Join(root, "var") +
		"\n  datadir: " + filepath.Join(root, "share") +
		"\n  cachedir: " + filepath.Join(root, "cache") + "\n"
}

// Load reads warewulf.conf again.
func (in *Install) Load(t testing.TB) *config.Config {
	t.Helper()
	cfg, warnings, err := config.Load(in.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Fatalf("%s: %q", in.ConfPath, warnings)
	}
	return cfg
}

// WriteNodes writes nodes.conf.
func (in *Install) WriteNodes(t testing.TB, content string) {
	t.Helper()
	Write(t, in.Config.NodesConf(), content)
}

// SiteOverlay writes a file of a site overlay (below its rootfs), 0644.
func (in *Install) SiteOverlay(t testing.TB, overlay, file, content string) string {
	t.Helper()
	p := filepath.Join(in.Config.Paths.Wwoverlaydir, overlay, "rootfs", file)
	Write(t, p, content)
	return p
}

// Write writes a file with mode 0644, making its directories.
func Write(t testing.TB, path, content string) {
	t.Helper()
	WriteMode(t, path, content, 0o644)
}

// WriteMode writes a file with mode perm, making its directories. The
// mode is set exactly, whatever the umask.
func WriteMode(t testing.TB, path, content string, perm os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}
