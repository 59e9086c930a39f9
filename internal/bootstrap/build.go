package bootstrap

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
	"github.com/wwboot/wwboot/internal/image"
)

// Paths inside the bootstrap that stage one reads.
const (
	// ModulesList lists the modules to load, one absolute path per line,
	// in load order.
	ModulesList = "etc/wwstage1/modules"
	// KernelFile holds the kernel version the bootstrap was made for.
	KernelFile = "etc/wwstage1/kernel"
)

// Options are what Build works with.
type Options struct {
	// Root is the image's root filesystem.
	Root string
	// Version is the kernel version, as in /lib/modules/VERSION.
	Version string
	Config  *Config
	// Stage1 is the static stage-one program, which becomes /init.
	Stage1 string
	// Out is the path the archive is written to (its sha256 goes to
	// Out+".sha256", in sha256sum's format).
	Out string
	// ModTime is every entry's modification time (SOURCE_DATE_EPOCH;
	// 0 by default), so that the same inputs give the same bytes.
	ModTime int64
	Log     *slog.Logger
}

// Result describes a built bootstrap.
type Result struct {
	Path     string
	SHA256   string
	Size     int64
	Modules  []string // load order, relative to /lib/modules/VERSION
	Firmware []string // relative to /lib/firmware
	// Builtin and Missing are requested modules the kernel has built in
	// or does not have at all.
	Builtin, Missing []string
	// Programs are the programs copied in; MissingPrograms those the
	// image lacks (those it has but that could not be taken are logged).
	Programs, MissingPrograms []string
}

// file is one entry of the archive: a regular file read when written
// (mode 0644 unless set), or a symbolic link.
type file struct {
	read func() ([]byte, error)
	mode fs.FileMode
	link string
}

// OutName is the file name of the bootstrap of an image's kernel
// version, next to the image's archives: <archive>.bootstrap-<version>.img
// and the compression's extension.
func OutName(archive, version string, f compress.Format) string {
	return archive + ".bootstrap-" + version + ".img" + f.Ext()
}

// Build makes the bootstrap: modules selected by the configuration and
// their dependencies (from the image's modules.dep), the firmware and
// programs (with their libraries) the configuration names, the
// stage-one program as /init (and as udevadm) and the list of modules
// to load. Modules compressed with zstd or gzip are stored
// decompressed; xz-compressed ones are kept as they are, for the kernel
// to decompress (finit_module with MODULE_INIT_COMPRESSED_FILE).
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" || strings.ContainsAny(o.Version, "/\x00") || o.Version == "." || o.Version == ".." {
		return nil, fmt.Errorf("bootstrap: bad kernel version %q", o.Version)
	}
	stage1, err := os.ReadFile(o.Stage1)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: stage-one program: %w", err)
	}
	modDir := "/lib/modules/" + o.Version
	md, builtin, err := readModuleIndex(o.Root, modDir)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: kernel %s: %w", o.Version, err)
	}
	sel, err := o.Config.Select(md, builtin)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: kernel %s: %w", o.Version, err)
	}
	if len(sel.Missing) > 0 {
		o.Log.Debug("requested modules not in the kernel", "kernel", o.Version, "modules", strings.Join(sel.Missing, ","))
	}
	firmware, err := findFirmware(o.Root, o.Config.Firmware)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: firmware: %w", err)
	}

	programs, err := findPrograms(o.Root, o.Config.Programs)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	for _, p := range programs.problems {
		o.Log.Warn("program left out of the bootstrap", "program", p)
	}

	files := map[string]file{}
	var loadList strings.Builder
	for _, p := range sel.Load {
		name := storedModuleName(p)
		inside := path.Join("lib/modules", o.Version, name)
		src := path.Join(modDir, p)
		files[inside] = file{read: func() ([]byte, error) { return readModule(o.Root, src) }}
		loadList.WriteString("/" + inside + "\n")
	}
	for _, p := range firmware {
		src := path.Join("/lib/firmware", p)
		files[path.Join("lib/firmware", p)] = file{read: func() ([]byte, error) { return readIn(o.Root, src) }}
	}
	for inside, src := range programs.files {
		files[inside] = file{read: func() ([]byte, error) { return readIn(o.Root, src) }, mode: 0o755}
	}
	for inside, target := range programs.links {
		files[inside] = file{link: target}
	}
	files[Udevadm] = file{link: "/init"}
	files["init"] = file{read: func() ([]byte, error) { return stage1, nil }, mode: 0o755}
	files[ModulesList] = file{read: func() ([]byte, error) { return []byte(loadList.String()), nil }}
	files[KernelFile] = file{read: func() ([]byte, error) { return []byte(o.Version + "\n"), nil }}

	var buf bytes.Buffer
	sum := sha256.New()
	zw, err := compress.NewWriter(io.MultiWriter(&buf, sum), o.Config.Compress, compress.Options{})
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if err := writeArchive(ctx, zw, files, o.ModTime); err != nil {
		return nil, fmt.Errorf("bootstrap: kernel %s: %w", o.Version, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("bootstrap: compress: %w", err)
	}
	digest := hex.EncodeToString(sum.Sum(nil))
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	// Like every archive on the server, not for other local users.
	if err := atomicfile.WriteFile(o.Out, buf.Bytes(), 0o640); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	line := digest + "  " + filepath.Base(o.Out) + "\n"
	if err := atomicfile.WriteFile(o.Out+".sha256", []byte(line), 0o644); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	mods := slices.Clone(sel.Load)
	return &Result{Path: o.Out, SHA256: digest, Size: int64(buf.Len()), Modules: mods, Firmware: firmware,
		Builtin: sel.Builtin, Missing: sel.Missing,
		Programs: programs.found, MissingPrograms: programs.missing}, nil
}

// writeArchive writes the directories every file needs, the device node
// /dev/console (the kernel opens it for init before anything is mounted)
// and the files, sorted by name.
func writeArchive(ctx context.Context, w io.Writer, files map[string]file, mtime int64) error {
	dirs := map[string]bool{"dev": true, "proc": true, "sys": true, "run": true, "newroot": true, "tmp": true}
	for name := range files {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	type entry struct {
		name string
		dir  bool
	}
	var entries []entry
	for d := range dirs {
		entries = append(entries, entry{d, true})
	}
	for f := range files {
		entries = append(entries, entry{f, false})
	}
	entries = append(entries, entry{"dev/console", false})
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	cw := cpio.NewWriter(w)
	if err := cw.WriteHeader(&cpio.Header{Name: ".", Mode: fs.ModeDir | 0o755, ModTime: mtime}); err != nil {
		return err
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case e.dir:
			perm := fs.FileMode(0o755)
			if e.name == "tmp" {
				perm = 0o777 | fs.ModeSticky
			}
			if err := cw.WriteHeader(&cpio.Header{Name: e.name, Mode: fs.ModeDir | perm, ModTime: mtime}); err != nil {
				return err
			}
		case e.name == "dev/console":
			h := &cpio.Header{Name: e.name, Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, ModTime: mtime, Rdevmajor: 5, Rdevminor: 1}
			if err := cw.WriteHeader(h); err != nil {
				return err
			}
		case files[e.name].link != "":
			h := &cpio.Header{Name: e.name, Mode: fs.ModeSymlink | 0o777, ModTime: mtime, Linkname: files[e.name].link}
			if err := cw.WriteHeader(h); err != nil {
				return err
			}
		default:
			f := files[e.name]
			data, err := f.read()
			if err != nil {
				return err
			}
			perm := f.mode
			if perm == 0 {
				perm = 0o644
			}
			if err := cw.WriteHeader(&cpio.Header{Name: e.name, Mode: perm, ModTime: mtime, Size: int64(len(data))}); err != nil {
				return err
			}
			if _, err := cw.Write(data); err != nil {
				return err
			}
		}
	}
	return cw.Close()
}

// readModuleIndex reads the kernel's modules.dep, modules.softdep (with
// modules.alias for the aliases it names) and modules.builtin.
func readModuleIndex(root, modDir string) (*ModuleDeps, map[string]bool, error) {
	f, _, err := image.OpenIn(root, modDir+"/modules.dep", "")
	if err != nil {
		return nil, nil, fmt.Errorf("modules.dep (run depmod in the image): %w", err)
	}
	defer f.Close()
	md, err := ParseModulesDep(f)
	if err != nil {
		return nil, nil, err
	}
	if sf, _, err := image.OpenIn(root, modDir+"/modules.softdep", ""); err == nil {
		defer sf.Close()
		soft, err := ParseSoftdep(sf)
		if err != nil {
			return nil, nil, err
		}
		var aliases map[string][]string
		if af, _, err := image.OpenIn(root, modDir+"/modules.alias", ""); err == nil {
			defer af.Close()
			if aliases, err = ParseAliases(af); err != nil {
				return nil, nil, err
			}
		}
		md.SetSoftdeps(soft, aliases)
	}
	builtin := map[string]bool{}
	if bf, _, err := image.OpenIn(root, modDir+"/modules.builtin", ""); err == nil {
		defer bf.Close()
		if builtin, err = ParseBuiltin(bf); err != nil {
			return nil, nil, err
		}
	}
	return md, builtin, nil
}

// storedModuleName is the module's path as stored: zstd and gzip are
// decompressed at build time, xz is left to the kernel.
func storedModuleName(p string) string {
	for _, ext := range []string{".zst", ".gz"} {
		if strings.HasSuffix(p, ".ko"+ext) {
			return strings.TrimSuffix(p, ext)
		}
	}
	return p
}

func readModule(root, p string) ([]byte, error) {
	data, err := readIn(root, p)
	if err != nil {
		return nil, err
	}
	var f compress.Format
	switch {
	case strings.HasSuffix(p, ".ko.zst"):
		f = compress.Zstd
	case strings.HasSuffix(p, ".ko.gz"):
		f = compress.Gzip
	default:
		return data, nil
	}
	zr, err := compress.NewReader(bytes.NewReader(data), f)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", p, err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", p, err)
	}
	return out, nil
}

// readIn reads a regular file inside the image, symlinks resolved as in
// a chroot.
func readIn(root, p string) ([]byte, error) {
	f, rel, err := image.OpenIn(root, p, "")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s (/%s) is not a regular file", p, rel)
	}
	return io.ReadAll(f)
}

// findFirmware lists the files under the image's /lib/firmware that the
// patterns match, sorted. Symbolic links are followed inside the image
// and stored as the files they lead to.
func findFirmware(root string, patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	d, rel, err := image.OpenIn(root, "/lib/firmware", "")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.Close()
	rt, err := os.OpenRoot(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	var out []string
	err = fs.WalkDir(rt.FS(), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		match := false
		for _, pat := range patterns {
			if matchTree(pat, p) {
				match = true
				break
			}
		}
		if !match {
			return nil
		}
		// Stat through the root: a link leading out of the image is
		// refused, one to a directory or nothing is skipped.
		st, err := rt.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			return nil
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}
