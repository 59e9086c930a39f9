package overlay

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/wwboot/wwboot/internal/naming"
)

// errAbort ends a template's execution at abort; the renderer writes
// nothing for it and reports no error.
var errAbort = errors.New("abort")

// execState is what the functions of one template execution change or
// record.
type execState struct {
	node     *Node
	abort    bool
	noBackup bool
	// reads maps every server or image file the template read to the
	// sha256 of its content ("" when it could not be read), so a build
	// knows when its inputs change.
	reads map[string]string
	// files, when set, are the files and links the build read so far
	// (nil: read each time).
	files *fileCache
	// outs are the template's outputs in the order file() opened them;
	// the first, unnamed, is the template's own (render.go).
	outs []*output
	// sizes are the outputs' lengths the last time the template ran,
	// to allocate each once.
	sizes []int
}

// output is one file (or symlink) a template writes.
type output struct {
	name   string // as given to file(); "" for the template's own
	data   bytes.Buffer
	link   bool
	target string
}

// Write sends template output to the output file() last opened, as
// Warewulf 4.7 does: text before a file() call stays in the previous
// output, even on the same line, and text after it goes to the new one.
func (s *execState) Write(p []byte) (int, error) {
	return s.outs[len(s.outs)-1].data.Write(p)
}

// WriteString is Write of a string, without a copy to bytes first.
func (s *execState) WriteString(str string) (int, error) {
	return s.outs[len(s.outs)-1].data.WriteString(str)
}

// file opens a new output; what the template writes next goes to it.
func (s *execState) file(name string) string {
	o := &output{name: name}
	if i := len(s.outs); i < len(s.sizes) {
		o.data.Grow(s.sizes[i])
	}
	s.outs = append(s.outs, o)
	return ""
}

// softlink makes the current output a symlink to target.
func (s *execState) softlink(target string) string {
	o := s.outs[len(s.outs)-1]
	o.link, o.target = true, target
	return ""
}

// env is what the functions need from outside the template.
type env struct {
	sysconfdir string    // Include resolves relative paths under <sysconfdir>/warewulf
	chrootdir  string    // IncludeFrom reads <chrootdir>/<image>/rootfs/<path>
	hostRoot   string    // absolute server paths are read below it ("" or "/": the real root)
	rand       io.Reader // ssh host certificates' nonces and serials (nil: crypto/rand)
}

// funcMap returns the functions templates call; state is read through st
// so that one parsed template serves many executions in turn.
func funcMap(e env, st **execState) template.FuncMap {
	m := template.FuncMap{
		"Include": func(p string) string {
			return strings.TrimSuffix((*st).readText(e.includePath(p)), "\n")
		},
		"IncludeFrom": func(image, p string) string {
			if !naming.Image.Valid(image) {
				return ""
			}
			full := filepath.Join(e.chrootdir, image, "rootfs", filepath.Clean("/"+p))
			if fi, err := os.Lstat(full); err != nil || fi.IsDir() {
				(*st).note(full, nil)
				return ""
			}
			return strings.TrimSuffix((*st).readText(full), "\n")
		},
		"IncludeBlock": func(p, marker string) string {
			data, err := (*st).read(e.includePath(p))
			if err != nil {
				return marker
			}
			var b strings.Builder
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(make([]byte, 64<<10), 16<<20)
			for sc.Scan() {
				if strings.Contains(sc.Text(), marker) {
					break
				}
				b.WriteString(sc.Text())
				b.WriteByte('\n')
			}
			return b.String() + marker
		},
		// A path that does not resolve ends the template as abort does:
		// nothing is written. Warewulf 4.7 fails the template, and with
		// it the node's whole overlay build (README, "Where this
		// differs").
		"ImportLink": func(p string) (string, error) {
			target, err := (*st).evalSymlinks(e, p)
			(*st).note("link:"+p, []byte(target))
			if err != nil {
				(*st).abort = true
				return "", errAbort
			}
			return (*st).softlink(target), nil
		},
		"softlink": func(target string) string { return (*st).softlink(target) },
		"readlink": func(p string) (string, error) {
			target, err := (*st).evalSymlinks(e, p)
			(*st).note("link:"+p, []byte(target))
			return target, err
		},
		"file": func(name string) string { return (*st).file(name) },
		// abort ends the template where it is called, as in Warewulf
		// 4.7: what follows is not run, so it cannot fail.
		"abort":        func() (string, error) { (*st).abort = true; return "", errAbort },
		"nobackup":     func() string { (*st).noBackup = true; return "" },
		"IgnitionJson": func() string { return ignitionJSON((*st).node) },
		"SshHostKeys":  func(types []string) ([]SshHostKey, error) { return e.sshHostKeys(*st, types) },
		"SshHostCA":    func() string { return e.sshHostCA(*st) },
	}
	// The functions above read files or change the output; no Sprig
	// function has their names.
	for k, v := range PlainFuncs() {
		if _, own := m[k]; !own {
			m[k] = v
		}
	}
	// Sprig's regexMatch compiles its expression at every call, and the
	// network templates call it for every tag of every node: these
	// compile each expression once a renderer (a worker's, not shared).
	// Same answers, an invalid expression included (false, or the error
	// for mustRegexMatch).
	compiled := map[string]*regexp.Regexp{}
	compile := func(expr string) (*regexp.Regexp, error) {
		if re, ok := compiled[expr]; ok {
			return re, nil
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, err
		}
		compiled[expr] = re
		return re, nil
	}
	m["regexMatch"] = func(expr, s string) bool {
		re, err := compile(expr)
		return err == nil && re.MatchString(s)
	}
	m["mustRegexMatch"] = func(expr, s string) (bool, error) {
		re, err := compile(expr)
		if err != nil {
			return false, err
		}
		return re.MatchString(s), nil
	}
	return m
}

// PlainFuncs are the template functions that need no node, overlay or
// server file: Warewulf's pure helpers and Sprig in full. The daemon's
// iPXE templates get them (Warewulf 4.7 gives its iPXE templates Sprig,
// and the ones it installs call Sprig's default), and overlay templates
// get them besides the functions that read files or change the output.
func PlainFuncs() template.FuncMap {
	m := template.FuncMap{
		"UniqueField":       uniqueField,
		"SystemdEscape":     func(s string) string { return systemdEscape(s, false) },
		"SystemdEscapePath": func(s string) string { return systemdEscape(s, true) },
		"basename":          path.Base,
		"inc":               func(i int) int { return i + 1 },
		"dec":               func(i int) int { return i - 1 },
	}
	// Sprig is added after Warewulf's own functions, as Warewulf does.
	for k, v := range sprig.TxtFuncMap() {
		m[k] = v
	}
	return m
}

func (e env) includePath(p string) string {
	if filepath.IsAbs(p) {
		return e.host(p)
	}
	return filepath.Join(e.sysconfdir, "warewulf", p)
}

// host maps an absolute path on the server to where it is read, so tests
// can give templates a server filesystem of their own. Paths already
// inside the configured directories are left alone.
func (e env) host(p string) string {
	if e.hostRoot == "" || e.hostRoot == "/" || strings.HasPrefix(p, e.sysconfdir+"/") ||
		strings.HasPrefix(p, e.chrootdir+"/") || strings.HasPrefix(p, e.hostRoot+"/") {
		return p
	}
	return filepath.Join(e.hostRoot, p)
}

// evalSymlinks resolves a server path, answering in the server's terms.
func (e env) evalSymlinks(p string) (string, error) {
	target, err := filepath.EvalSymlinks(e.host(p))
	if err != nil || e.hostRoot == "" || e.hostRoot == "/" {
		return target, err
	}
	if rel, ok := strings.CutPrefix(target, e.hostRoot); ok && strings.HasPrefix(rel, "/") {
		return rel, nil
	}
	return target, nil
}

// evalSymlinks resolves a server path as e.evalSymlinks does, through
// the build's cache when there is one.
func (s *execState) evalSymlinks(e env, p string) (string, error) {
	if s.files != nil {
		return s.files.link(e, p)
	}
	return e.evalSymlinks(p)
}

// read reads a file and records it as an input of the execution. The
// bytes returned must not be modified (the build's cache holds them).
func (s *execState) read(p string) ([]byte, error) {
	if s.files != nil {
		data, sum, err := s.files.read(p)
		s.record(p, sum)
		return data, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		s.note(p, nil)
		return nil, err
	}
	s.note(p, data)
	return data, nil
}

// readText is read's content as a string ("" when it cannot be read),
// converted once a build when the build's cache holds the file.
func (s *execState) readText(p string) string {
	if s.files == nil {
		data, _ := s.read(p)
		return string(data)
	}
	f := s.files.file(p)
	s.record(p, f.sum)
	return f.text
}

// note records an input: its content hash, or "" for a missing file.
func (s *execState) note(key string, data []byte) {
	if data == nil {
		s.record(key, "")
		return
	}
	sum := sha256.Sum256(data)
	s.record(key, hex.EncodeToString(sum[:]))
}

// record records an input's content hash.
func (s *execState) record(key, sum string) {
	if s.reads == nil {
		s.reads = map[string]string{}
	}
	s.reads[key] = sum
}

// uniqueField keeps the first line for each value of field index (lines
// split on sep); lines without that field pass through.
func uniqueField(sep string, index int, text string) string {
	seen := map[string]bool{}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Split(line, sep)
		if index >= 0 && index < len(fields) && fields[index] != "" {
			if seen[fields[index]] {
				continue
			}
			seen[fields[index]] = true
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// systemdEscape escapes a string the way systemd-escape does (with path
// set, like systemd-escape --path).
func systemdEscape(s string, isPath bool) string {
	if isPath {
		s = path.Clean("/" + s)
		if s == "/" {
			return "-"
		}
		s = strings.TrimPrefix(s, "/")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case i == 0 && c == '.':
			fmt.Fprintf(&b, `\x%02x`, c)
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// ignitionJSON builds Ignition's storage section from the node's disks
// and filesystems, "" when it has neither, with Warewulf's field and
// partition order: by number (none is 0), then those with a size first,
// smaller first. Warewulf's bugs here are not reproduced: start_mib read
// from size_mib, mount options split per character, disks and equal
// partitions in random order (here by device, then by label), and a
// panic for two equal partitions without a size.
func ignitionJSON(n *Node) string {
	if len(n.Disks) == 0 && len(n.FileSystems) == 0 {
		return ""
	}
	type partition struct {
		GUID               string `json:"guid,omitempty"`
		Label              string `json:"label,omitempty"`
		Number             int    `json:"number,omitempty"`
		Resize             *bool  `json:"resize,omitempty"`
		ShouldExist        *bool  `json:"shouldExist,omitempty"`
		SizeMiB            *int   `json:"sizeMiB,omitempty"`
		StartMiB           *int   `json:"startMiB,omitempty"`
		TypeGUID           string `json:"typeGuid,omitempty"`
		WipePartitionEntry *bool  `json:"wipePartitionEntry,omitempty"`
	}
	type disk struct {
		Device     string      `json:"device"`
		Partitions []partition `json:"partitions,omitempty"`
		WipeTable  *bool       `json:"wipeTable,omitempty"`
	}
	// Path is always written, as Warewulf does ("" for none).
	type filesystem struct {
		Device         string   `json:"device"`
		Format         string   `json:"format,omitempty"`
		Label          string   `json:"label,omitempty"`
		MountOptions   []string `json:"mountOptions,omitempty"`
		Options        []string `json:"options,omitempty"`
		Path           string   `json:"path"`
		UUID           string   `json:"uuid,omitempty"`
		WipeFilesystem *bool    `json:"wipeFilesystem,omitempty"`
	}
	atoi := func(s string) *int {
		if v, err := strconv.Atoi(s); err == nil {
			return &v
		}
		return nil
	}
	var storage struct {
		Disks       []disk       `json:"disks,omitempty"`
		Filesystems []filesystem `json:"filesystems,omitempty"`
	}
	for _, name := range sortedKeys(n.Disks) {
		d := n.Disks[name]
		out := disk{Device: name, WipeTable: d.WipeTableP}
		for _, label := range sortedKeys(d.Partitions) {
			p := d.Partitions[label]
			num := 0
			if v := atoi(p.Number); v != nil {
				num = *v
			}
			out.Partitions = append(out.Partitions, partition{Label: p.id, Number: num, ShouldExist: p.ShouldExistP,
				WipePartitionEntry: p.WipePartitionEntryP, SizeMiB: atoi(p.SizeMiB), StartMiB: atoi(p.StartMiB),
				TypeGUID: p.TypeGuid, GUID: p.Guid, Resize: p.ResizeP})
		}
		slices.SortStableFunc(out.Partitions, func(a, b partition) int {
			if a.Number != b.Number {
				return cmp.Compare(a.Number, b.Number)
			}
			switch {
			case a.SizeMiB == nil && b.SizeMiB == nil:
				return 0
			case a.SizeMiB == nil:
				return 1
			case b.SizeMiB == nil:
				return -1
			}
			return cmp.Compare(*a.SizeMiB, *b.SizeMiB)
		})
		storage.Disks = append(storage.Disks, out)
	}
	for _, name := range sortedKeys(n.FileSystems) {
		f := n.FileSystems[name]
		var mountOpts []string
		for _, o := range strings.Split(f.MountOptions, ",") {
			if o = strings.TrimSpace(o); o != "" {
				mountOpts = append(mountOpts, o)
			}
		}
		storage.Filesystems = append(storage.Filesystems, filesystem{Device: name, Path: f.Path, Format: f.Format,
			WipeFilesystem: f.WipeFileSystemP, Label: f.Label, UUID: f.Uuid, Options: f.Options, MountOptions: mountOpts})
	}
	doc := map[string]any{"ignition": map[string]string{"version": "3.1.0"}, "storage": storage}
	out, err := json.Marshal(doc)
	if err != nil {
		return err.Error()
	}
	return string(out)
}
