package mkchroot

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// debootstrapScripts is where debootstrap keeps its per-suite scripts.
const debootstrapScripts = "/usr/share/debootstrap/scripts"

// debRecipe is a Debian or Ubuntu release made by debootstrap.
type debRecipe struct {
	distro string // "debian" or "ubuntu": os-release ID
	suite  string
}

func (d debRecipe) keyring() (path, pkg string) {
	if d.distro == "ubuntu" {
		return "/usr/share/keyrings/ubuntu-archive-keyring.gpg", "ubuntu-keyring"
	}
	return "/usr/share/keyrings/debian-archive-keyring.gpg", "debian-archive-keyring"
}

// packages is the base set a node needs, for the host's architecture.
func (d debRecipe) packages(goarch string) []string {
	kernel := "linux-image-generic"
	if d.distro == "debian" {
		kernel = "linux-image-" + debianKernelFlavour(goarch)
	}
	// fdisk (sfdisk) and e2fsprogs: what the sfdisk and mkfs overlays run
	// to set up a node's disks at boot (minbase has no sfdisk).
	return []string{"systemd-sysv", "udev", "dbus", "iproute2", "ifupdown", "openssh-server", "kmod", "fdisk", "e2fsprogs", kernel}
}

// debianKernelFlavour names the linux-image-* metapackage of an
// architecture.
func debianKernelFlavour(goarch string) string {
	switch goarch {
	case "386":
		return "686-pae"
	case "ppc64le":
		return "powerpc64le"
	case "arm":
		return "armmp"
	default: // amd64, arm64, riscv64, s390x
		return goarch
	}
}

// script returns the debootstrap script to name explicitly, "" when
// debootstrap knows the suite itself. Every Ubuntu release since gutsy
// uses the gutsy script; a debootstrap older than a release just lacks
// the link.
func (d debRecipe) script(h host) (string, error) {
	if h.exists(filepath.Join(debootstrapScripts, d.suite)) {
		return "", nil
	}
	if gutsy := filepath.Join(debootstrapScripts, "gutsy"); d.distro == "ubuntu" && h.exists(gutsy) {
		return h.path(gutsy), nil
	}
	return "", fmt.Errorf("a debootstrap that knows %s (this one has no %s script; upgrade debootstrap)", d.suite, d.suite)
}

// mirror is the archive to bootstrap from: the override, else the host's
// apt configuration when the host runs the same distribution (so a site's
// local mirror or proxy is used), else the distribution's own.
func (d debRecipe) mirror(h host, override string) string {
	if override != "" {
		return strings.TrimRight(override, "/")
	}
	if hostDistro(h) == d.distro {
		if m := aptMirror(h); m != "" {
			return m
		}
	}
	if d.distro == "debian" {
		return "http://deb.debian.org/debian"
	}
	if h.goarch == "amd64" || h.goarch == "386" {
		return "http://archive.ubuntu.com/ubuntu"
	}
	return "http://ports.ubuntu.com/ubuntu-ports"
}

func (d debRecipe) missing(ctx context.Context, h host, mirror string) []string {
	var m []string
	if _, err := findTool(h, "debootstrap"); err != nil {
		m = append(m, "debootstrap (apt-get install debootstrap; on EL: dnf install debootstrap from EPEL)")
	} else if _, err := d.script(h); err != nil {
		m = append(m, err.Error())
	}
	if key, pkg := d.keyring(); !h.exists(key) {
		m = append(m, fmt.Sprintf("the %s archive keyring %s (package %s)", d.distro, key, pkg))
	}
	m = append(m, needRoot(h, "debootstrap")...)
	// Ubuntu's archive is often not reachable from a Debian site: find
	// out now, not after an hour of debootstrap. Not worth the wait when
	// something else is missing anyway.
	if d.distro == "ubuntu" && len(m) == 0 {
		url := d.mirror(h, mirror) + "/dists/" + d.suite + "/Release"
		if err := h.probe(ctx, url); err != nil {
			m = append(m, fmt.Sprintf("a reachable Ubuntu mirror (%v; name one with the mirror option)", err))
		}
	}
	return m
}

// argv is the debootstrap command line.
func (d debRecipe) argv(tool string, h host, dest, mirror, script string, extra []string) []string {
	key, _ := d.keyring()
	argv := []string{tool, "--variant=minbase",
		"--include=" + strings.Join(append(d.packages(h.goarch), extra...), ","),
		"--keyring=" + h.path(key)}
	if d.distro == "ubuntu" {
		// ifupdown is in universe.
		argv = append(argv, "--components=main,universe")
	}
	argv = append(argv, d.suite, dest, mirror)
	if script != "" {
		argv = append(argv, script)
	}
	return argv
}

// debPackageName is Debian policy's package name syntax.
var debPackageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

func (d debRecipe) create(ctx context.Context, h host, dest string, opts Options) error {
	for _, p := range opts.Packages {
		if !debPackageName.MatchString(p) {
			return fmt.Errorf("package %q: not a valid Debian package name", p)
		}
	}
	tool, err := findTool(h, "debootstrap")
	if err != nil {
		return err
	}
	script, err := d.script(h)
	if err != nil {
		return err
	}
	mirror := d.mirror(h, opts.Mirror)
	opts.Log.Info("bootstrapping", "distro", d.distro, "suite", d.suite, "mirror", mirror, "dest", dest)
	if err := runTool(ctx, opts, d.argv(tool, h, dest, mirror, script, opts.Packages)); err != nil {
		if log := filepath.Join(dest, "debootstrap", "debootstrap.log"); fileExists(log) {
			return fmt.Errorf("%w (see %s)", err, log)
		}
		return err
	}
	// The downloaded packages are installed; in the image they would be
	// dead weight shipped to every node.
	debs, _ := filepath.Glob(filepath.Join(dest, "var", "cache", "apt", "archives", "*.deb"))
	for _, deb := range debs {
		if err := os.Remove(deb); err != nil {
			return fmt.Errorf("clean package cache: %w", err)
		}
	}
	if err := resetIdentity(dest); err != nil {
		return fmt.Errorf("reset node identity: %w", err)
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// findTool finds a program in PATH or, because a non-login root shell may
// lack them there, in the sbin directories.
func findTool(h host, name string) (string, error) {
	if p, err := h.lookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if p := h.path(filepath.Join(dir, name)); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

// hostDistro is the host's os-release ID.
func hostDistro(h host) string {
	data, err := os.ReadFile(h.path("/etc/os-release"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "ID="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

// aptSource is one enabled "deb" entry of the apt configuration.
type aptSource struct {
	URI    string
	Suites []string
}

// aptMirror returns the URI of the first deb entry of the host's apt
// configuration that serves a release suite (not -security, -updates,
// -backports, not an external repository's "nodistro"), or "".
func aptMirror(h host) string {
	for _, s := range aptSources(h) {
		if !strings.HasPrefix(s.URI, "http://") && !strings.HasPrefix(s.URI, "https://") &&
			!strings.HasPrefix(s.URI, "ftp://") && !strings.HasPrefix(s.URI, "file:") {
			continue
		}
		for _, suite := range s.Suites {
			if isReleaseSuite(suite) {
				return strings.TrimRight(s.URI, "/")
			}
		}
	}
	return ""
}

func isReleaseSuite(s string) bool {
	switch s {
	case "", "nodistro", "stable-security", "stable-updates", "/":
		return false
	}
	return !strings.ContainsAny(s, "-/")
}

// aptSources reads /etc/apt/sources.list and sources.list.d/*.list (one-
// line format) and sources.list.d/*.sources (deb822), in apt's order.
func aptSources(h host) []aptSource {
	files := []string{h.path("/etc/apt/sources.list")}
	var parts []string
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(h.path("/etc/apt/sources.list.d/" + pat))
		parts = append(parts, m...)
	}
	sort.Strings(parts)
	files = append(files, parts...)
	var out []aptSource
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if strings.HasSuffix(f, ".sources") {
			out = append(out, parseDeb822Sources(string(data))...)
		} else {
			out = append(out, parseOneLineSources(string(data))...)
		}
	}
	return out
}

// parseOneLineSources parses "deb [options] URI SUITE [COMPONENT...]".
func parseOneLineSources(text string) []aptSource {
	var out []aptSource
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "deb" {
			continue
		}
		fields = fields[1:]
		if strings.HasPrefix(fields[0], "[") {
			for len(fields) > 0 && !strings.HasSuffix(fields[0], "]") {
				fields = fields[1:]
			}
			if len(fields) > 0 {
				fields = fields[1:]
			}
		}
		if len(fields) < 2 {
			continue
		}
		out = append(out, aptSource{URI: fields[0], Suites: []string{fields[1]}})
	}
	return out
}

// parseDeb822Sources parses the deb822 format: stanzas of "Field: value"
// lines separated by blank lines.
func parseDeb822Sources(text string) []aptSource {
	var out []aptSource
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) > 0 && !strings.EqualFold(fields["enabled"], "no") &&
			containsWord(fields["types"], "deb") {
			for _, uri := range strings.Fields(fields["uris"]) {
				out = append(out, aptSource{URI: uri, Suites: strings.Fields(fields["suites"])})
			}
		}
		fields = map[string]string{}
		last = ""
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out
}

func containsWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
