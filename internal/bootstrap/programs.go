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
		deps := map[string]string{}
		if err := collectELF(root, src, conf, deps); err != nil {
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

// collectELF adds to deps the interpreter and the libraries the ELF file
// at p (in the image) needs, each under its bootstrap path. A file that
// is not ELF (a script) needs nothing.
func collectELF(root, p string, conf []string, deps map[string]string) error {
	f, err := openELF(root, p)
	if err != nil {
		if errors.Is(err, errNotELF) {
			return nil
		}
		return err
	}
	interp, err := interpreter(f)
	if err != nil {
		return err
	}
	if interp != "" {
		if !isRegular(root, interp) {
			return fmt.Errorf("its interpreter %s is not in the image", interp)
		}
		deps[strings.TrimPrefix(path.Clean(interp), "/")] = interp
	}
	class, machine := f.Class, f.Machine
	queue := []*elf.File{f}
	seen := map[string]bool{}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		needed, err := cur.ImportedLibraries()
		if err != nil {
			return err
		}
		runpath, _ := cur.DynString(elf.DT_RUNPATH)
		if len(runpath) == 0 {
			runpath, _ = cur.DynString(elf.DT_RPATH)
		}
		for _, lib := range needed {
			// libc names the dynamic loader, which is in already, as the
			// interpreter.
			if seen[lib] || (interp != "" && lib == path.Base(interp)) {
				continue
			}
			seen[lib] = true
			from, lf, err := findLib(root, lib, runpath, conf, class, machine)
			if err != nil {
				return err
			}
			deps[path.Join(LibDir, path.Base(lib))] = from
			queue = append(queue, lf)
		}
	}
	return nil
}

var errNotELF = errors.New("not an ELF file")

// openELF reads the ELF file at p in the image.
func openELF(root, p string) (*elf.File, error) {
	data, err := readIn(root, p)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return nil, errNotELF
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return f, nil
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

// findLib finds the shared library lib as the dynamic loader would: in
// the object's run path, the directories of /etc/ld.so.conf and the
// default directories, taking only a file of the same class and machine
// (an image with both 32- and 64-bit libraries has one of each name).
func findLib(root, lib string, runpath, conf []string, class elf.Class, machine elf.Machine) (string, *elf.File, error) {
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
	dirs = append(dirs, conf...)
	if t, ok := tripletOf[machine]; ok {
		dirs = append(dirs, "/lib/"+t, "/usr/lib/"+t)
	}
	if class == elf.ELFCLASS64 {
		dirs = append(dirs, "/lib64", "/usr/lib64")
	}
	dirs = append(dirs, "/lib", "/usr/lib")
	for _, d := range dirs {
		p := path.Join(d, lib)
		if !isRegular(root, p) {
			continue
		}
		f, err := openELF(root, p)
		if err != nil || f.Class != class || f.Machine != machine {
			continue
		}
		return p, f, nil
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
					matches, err := globIn(root, pat)
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

// globIn lists, sorted, the regular files of one directory of the image
// whose names match the pattern's last element.
func globIn(root, pattern string) ([]string, error) {
	dir, pat := path.Dir(pattern), path.Base(pattern)
	d, rel, err := image.OpenIn(root, dir, "")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("%s (/%s): %w", dir, rel, err)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(pat, n); ok {
			out = append(out, path.Join(dir, n))
		}
	}
	return out, nil
}
