package bootstrap

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/image"
)

// Paths inside the bootstrap for the programs stage one runs before it
// prepares the root (the system overlay's wwinit.d scripts: sfdisk,
// mkfs, mkswap...).
const (
	ProgramDir = contract.BootstrapProgramDir
	LibDir     = contract.BootstrapLibDir
	// Udevadm is stage one's own udevadm, a link to /init: it makes the
	// /dev/disk/by-* links that udev would, for the scripts that ask
	// udev to settle after they partitioned a disk.
	Udevadm = ProgramDir + "/udevadm"
)

// programSearch is where a program is looked for in the image, as the
// wwinit.d scripts' PATH has it.
var programSearch = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// tripletOf is the multiarch directory name of a machine's libraries
// (Debian, Ubuntu).
var tripletOf = map[elf.Machine]string{
	elf.EM_X86_64: "x86_64-linux-gnu", elf.EM_AARCH64: "aarch64-linux-gnu", elf.EM_386: "i386-linux-gnu",
	elf.EM_PPC64: "powerpc64le-linux-gnu", elf.EM_RISCV: "riscv64-linux-gnu", elf.EM_S390: "s390x-linux-gnu",
}

// programSet is what the programs of the configuration take from the
// image: bootstrap path -> image path (symbolic links resolved inside
// the image when read).
type programSet struct {
	files map[string]string
	// links are programs that are the same file of the image as one
	// before them (a busybox applet, mkfs.ext4 and mke2fs): bootstrap
	// path -> the first one's absolute bootstrap path.
	links    map[string]string
	found    []string // program names, in the configuration's order
	missing  []string // not in the image
	problems []string // in the image but left out, with why
}

// findPrograms looks up each named program in the image and collects it
// with the shared libraries it needs (DT_NEEDED, recursively) and its
// program interpreter. A program the image lacks is missing; one whose
// libraries cannot all be found is left out with the reason: the
// scripts check with "command -v" for what they run.
func findPrograms(root string, names []string) (*programSet, error) {
	ps := &programSet{files: map[string]string{}, links: map[string]string{}}
	first := map[string]string{} // resolved image path -> bootstrap path
	if len(names) == 0 {
		return ps, nil
	}
	conf, err := ldConfDirs(root)
	if err != nil {
		return nil, err
	}
	r := &resolver{root: root, conf: conf, infos: map[string]elfRead{}}
	for _, name := range names {
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return nil, fmt.Errorf("program %q: want a file name, without a directory", name)
		}
		if name == "udevadm" {
			return nil, errors.New("program udevadm: the bootstrap has its own (stage one makes the /dev/disk links)")
		}
		src, resolved := "", ""
		for _, dir := range programSearch {
			if rel, ok := regularIn(root, path.Join(dir, name)); ok {
				src, resolved = path.Join(dir, name), rel
				break
			}
		}
		if src == "" {
			ps.missing = append(ps.missing, name)
			continue
		}
		inside := path.Join(ProgramDir, name)
		if prev, ok := first[resolved]; ok {
			ps.links[inside] = "/" + prev
			ps.found = append(ps.found, name)
			continue
		}
		deps, err := r.needs(src)
		if err != nil {
			ps.problems = append(ps.problems, fmt.Sprintf("%s (%s): %v", name, src, err))
			continue
		}
		ps.files[inside] = src
		first[resolved] = inside
		for in, from := range deps {
			ps.files[in] = from
		}
		ps.found = append(ps.found, name)
	}
	return ps, nil
}

func isRegular(root, p string) bool {
	_, ok := regularIn(root, p)
	return ok
}

// regularIn reports whether p is a regular file in the image, symbolic
// links followed, and its resolved path.
func regularIn(root, p string) (string, bool) {
	f, rel, err := image.OpenIn(root, p, "")
	if err != nil {
		return "", false
	}
	defer f.Close()
	st, err := f.Stat()
	return rel, err == nil && st.Mode().IsRegular()
}

// elfInfo is what the bootstrap needs of an ELF file.
type elfInfo struct {
	class   elf.Class
	machine elf.Machine
	interp  string   // PT_INTERP, "" for a static program
	needed  []string // DT_NEEDED
	runpath []string // DT_RUNPATH, else DT_RPATH
}

var errNotELF = errors.New("not an ELF file")

// readELF reads the ELF headers of the file at p in the image, only the
// parts it needs, not the whole file.
func readELF(root, p string) (*elfInfo, error) {
	f, rel, err := image.OpenIn(root, p, "")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s (/%s) is not a regular file", p, rel)
	}
	magic := make([]byte, len(elf.ELFMAG))
	if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != elf.ELFMAG {
		return nil, errNotELF
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	info := &elfInfo{class: ef.Class, machine: ef.Machine}
	if info.interp, err = interpreter(ef); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if info.needed, err = ef.ImportedLibraries(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if info.runpath, _ = ef.DynString(elf.DT_RUNPATH); len(info.runpath) == 0 {
		info.runpath, _ = ef.DynString(elf.DT_RPATH)
	}
	return info, nil
}

// interpreter is the program interpreter an ELF file names (PT_INTERP),
// "" for a static one.
func interpreter(f *elf.File) (string, error) {
	for _, prog := range f.Progs {
		if prog.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, prog.Filesz)
		if _, err := prog.ReadAt(b, 0); err != nil {
			return "", fmt.Errorf("program interpreter: %w", err)
		}
		return string(bytes.TrimRight(b, "\x00")), nil
	}
	return "", nil
}

// resolver finds the libraries of one image's programs; each file is
// read once however many programs need it (libc: all of them).
type resolver struct {
	root  string
	conf  []string           // the directories of /etc/ld.so.conf
	infos map[string]elfRead // image path -> what reading it gave
}

type elfRead struct {
	info *elfInfo
	err  error
}

// info is the ELF headers of the file at p, read once.
func (r *resolver) info(p string) (*elfInfo, error) {
	got, ok := r.infos[p]
	if !ok {
		got.info, got.err = readELF(r.root, p)
		r.infos[p] = got
	}
	return got.info, got.err
}

// needs returns the interpreter and the libraries the program at p (in
// the image) needs, all the way down, as bootstrap path -> image path. A
// program that is not ELF (a script) needs nothing.
func (r *resolver) needs(p string) (map[string]string, error) {
	prog, err := r.info(p)
	if errors.Is(err, errNotELF) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	deps := map[string]string{}
	if prog.interp != "" {
		if !isRegular(r.root, prog.interp) {
			return nil, fmt.Errorf("its interpreter %s is not in the image", prog.interp)
		}
		deps[strings.TrimPrefix(path.Clean(prog.interp), "/")] = prog.interp
	}
	queue := []*elfInfo{prog}
	seen := map[string]bool{}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, lib := range cur.needed {
			// libc names the dynamic loader, which is in already, as the
			// interpreter.
			if seen[lib] || (prog.interp != "" && lib == path.Base(prog.interp)) {
				continue
			}
			seen[lib] = true
			from, info, err := r.findLib(lib, cur.runpath, prog.class, prog.machine)
			if err != nil {
				return nil, err
			}
			deps[path.Join(LibDir, path.Base(lib))] = from
			queue = append(queue, info)
		}
	}
	return deps, nil
}

// findLib finds the shared library lib as the dynamic loader would: in
// the object's run path, the directories of /etc/ld.so.conf and the
// default directories, taking only a file of the same class and machine
// (an image with both 32- and 64-bit libraries has one of each name).
func (r *resolver) findLib(lib string, runpath []string, class elf.Class, machine elf.Machine) (string, *elfInfo, error) {
	if strings.Contains(lib, "/") {
		return "", nil, fmt.Errorf("library %q: a path, not a name", lib)
	}
	var dirs []string
	for _, rp := range runpath {
		for d := range strings.SplitSeq(rp, ":") {
			if strings.HasPrefix(d, "/") {
				dirs = append(dirs, d)
			}
		}
	}
	dirs = append(dirs, r.conf...)
	if t, ok := tripletOf[machine]; ok {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	if class == elf.ELFCLASS64 {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	}
	dirs = append(dirs, "/lib", "/usr/lib")
	for _, d := range dirs {
		p := path.Join(d, lib)
		if info, err := r.info(p); err == nil && info.class == class && info.machine == machine {
			return p, info, nil
		}
	}
	return "", nil, fmt.Errorf("library %s not found in the image", lib)
}

// ldConfDirs are the directories /etc/ld.so.conf names in the image,
// following its include lines (globs in /etc/ld.so.conf.d, most often).
func ldConfDirs(root string) ([]string, error) {
	var dirs []string
	seen := map[string]bool{}
	var read func(p string, depth int) error
	read = func(p string, depth int) error {
		if depth > 8 || seen[p] {
			return nil
		}
		seen[p] = true
		data, err := readIn(root, p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := sc.Text()
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			fields := strings.Fields(line)
			switch {
			case len(fields) == 0:
			case fields[0] == "include":
				for _, pat := range fields[1:] {
					if !strings.HasPrefix(pat, "/") {
						pat = path.Join(path.Dir(p), pat)
					}
					matches, err := image.GlobIn(root, pat)
					if err != nil {
						return err
					}
					for _, m := range matches {
						if err := read(m, depth+1); err != nil {
							return err
						}
					}
				}
			case strings.HasPrefix(fields[0], "/"):
				if !slices.Contains(dirs, path.Clean(fields[0])) {
					dirs = append(dirs, path.Clean(fields[0]))
				}
			}
		}
		return sc.Err()
	}
	if err := read("/etc/ld.so.conf", 0); err != nil {
		return nil, err
	}
	return dirs, nil
}
