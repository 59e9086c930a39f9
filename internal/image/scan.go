package image

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/wwboot/wwboot/internal/cpio"
	"golang.org/x/sys/unix"
)

// treeEntry is one entry of the archive.
type treeEntry struct {
	hdr cpio.Header
	// others are the earlier names of a hard-linked file, written with
	// this, its last name.
	others []string
	// later marks a name written with a later name of the same file.
	later bool
	// dev and ino identify a regular file, checked when it is opened.
	dev, ino uint64
	// secret marks a regular file others may not read (no o+r: /etc/shadow,
	// private keys): it goes into the secret archive, not the public one.
	secret bool
}

// scannedTree is a tree as it will be archived.
type scannedTree struct {
	entries []treeEntry
	files   int    // archive entries
	total   int64  // bytes of file contents
	secrets int    // entries of secret files (hard links counted once each)
	digest  string // hex
}

// scanner walks a tree into a scannedTree.
type scanner struct {
	ctx     context.Context
	root    string
	ex      *excluder
	hybrid  string
	log     *slog.Logger
	rootMnt uint64
	byMnt   bool // rootMnt is a mount ID, not a device number
	tree    *scannedTree
	links   map[[2]uint64][]int // (dev, ino) -> indexes of the names of a file
	digest  hash.Hash
	scratch []byte
}

// statMask is what scanTree asks statx for.
const statMask = unix.STATX_BASIC_STATS | unix.STATX_MNT_ID

// scanTree lists the tree at root in archive order: each directory's
// entries sorted by name, a directory before its contents. It stats every
// entry once and computes the tree's digest, but reads no file.
func scanTree(ctx context.Context, root string, ex *excluder, hybrid string, log *slog.Logger) (*scannedTree, error) {
	root = filepath.Clean(root)
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, root, 0, statMask, &st); err != nil {
		return nil, &fs.PathError{Op: "statx", Path: root, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fmt.Errorf("%s is not a directory", root)
	}
	s := &scanner{
		ctx: ctx, root: root, ex: ex, hybrid: hybrid, log: log,
		tree:   &scannedTree{},
		links:  map[[2]uint64][]int{},
		digest: sha256.New(),
	}
	s.rootMnt, s.byMnt = mountOf(&st)
	s.scratch = appendString(s.scratch[:0], buildVersion)
	s.scratch = appendString(s.scratch, ex.key())
	s.scratch = appendString(s.scratch, hybrid)
	s.digest.Write(s.scratch)
	if err := s.add(".", root, &st); err != nil {
		return nil, err
	}
	if err := s.walk(root, ""); err != nil {
		return nil, err
	}
	entries := s.tree.entries
	for _, idx := range s.links {
		if len(idx) < 2 {
			continue
		}
		last := &entries[idx[len(idx)-1]]
		for _, i := range idx[:len(idx)-1] {
			entries[i].later = true
			last.others = append(last.others, entries[i].hdr.Name)
			s.tree.total -= entries[i].hdr.Size
		}
	}
	s.tree.files = len(entries)
	s.tree.digest = hex.EncodeToString(s.digest.Sum(nil))
	return s.tree, nil
}

// mountOf returns what tells st's mount apart: its mount ID when the
// kernel reports one (bind mounts of the same filesystem too), else its
// device.
func mountOf(st *unix.Statx_t) (uint64, bool) {
	if st.Mask&unix.STATX_MNT_ID != 0 {
		return st.Mnt_id, true
	}
	return unix.Mkdev(st.Dev_major, st.Dev_minor), false
}

// walk adds the contents of the directory full, archived as rel.
func (s *scanner) walk(full, rel string) error {
	names, err := readDirNames(full)
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		cfull, crel := full+"/"+name, name
		if rel != "" {
			crel = rel + "/" + name
		}
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, cfull, unix.AT_SYMLINK_NOFOLLOW, statMask, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				s.log.Warn("file vanished during the build", "path", "/"+crel)
				continue
			}
			return &fs.PathError{Op: "statx", Path: cfull, Err: err}
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if m, byMnt := mountOf(&st); m != s.rootMnt || byMnt != s.byMnt {
			s.log.Info("skipping mount point", "path", "/"+crel)
			continue
		}
		if pat, ok := s.ex.match(crel, isDir); ok {
			s.log.Debug("excluded", "path", "/"+crel, "pattern", pat)
			if s.hybrid != "" {
				s.addHybrid(crel, &st)
			}
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFSOCK {
			s.log.Debug("skipping socket", "path", "/"+crel)
			continue
		}
		if err := s.add(crel, cfull, &st); err != nil {
			return err
		}
		if isDir {
			if err := s.walk(cfull, crel); err != nil {
				return err
			}
		}
	}
	return nil
}

// readDirNames returns the names in the directory at p, refusing to
// follow a symlink put in its place.
func readDirNames(p string) ([]string, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	d := os.NewFile(uintptr(fd), p)
	defer d.Close()
	return d.Readdirnames(-1)
}

// add appends the entry at full, archived as rel, and hashes it.
func (s *scanner) add(rel, full string, st *unix.Statx_t) error {
	mode, ok := unixFileMode(uint32(st.Mode))
	if !ok {
		s.log.Warn("skipping file of unknown type", "path", "/"+rel, "mode", fmt.Sprintf("%#o", st.Mode))
		return nil
	}
	if len(rel) > cpio.MaxNameLen {
		return fmt.Errorf("/%.60s...: path longer than cpio's limit of %d bytes", rel, cpio.MaxNameLen)
	}
	e := treeEntry{hdr: cpio.Header{
		Name: rel, Mode: mode, UID: st.Uid, GID: st.Gid,
		ModTime: min(max(st.Mtime.Sec, 0), cpio.MaxModTime),
	}}
	switch mode.Type() {
	case 0:
		if st.Size > cpio.MaxSize {
			return fmt.Errorf("/%s is %d bytes: cpio's newc format holds files of at most 4 GiB - 1 (%d bytes)", rel, st.Size, int64(cpio.MaxSize))
		}
		e.hdr.Size = int64(st.Size)
		e.dev, e.ino = unix.Mkdev(st.Dev_major, st.Dev_minor), st.Ino
		// Every name of a hard-linked file has its mode, so all of them
		// go into the same archive.
		if e.secret = mode.Perm()&0o004 == 0; e.secret {
			s.tree.secrets++
		}
		s.tree.total += e.hdr.Size
		if st.Nlink > 1 {
			k := [2]uint64{e.dev, e.ino}
			s.links[k] = append(s.links[k], len(s.tree.entries))
		}
	case fs.ModeSymlink:
		target, err := os.Readlink(full)
		if err != nil {
			return err
		}
		e.hdr.Linkname = target
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		e.hdr.Rdevmajor, e.hdr.Rdevminor = st.Rdev_major, st.Rdev_minor
	}
	s.tree.entries = append(s.tree.entries, e)

	b := append(s.scratch[:0], 'E')
	b = appendString(b, rel)
	b = appendString(b, e.hdr.Linkname)
	for _, v := range []uint64{
		uint64(st.Mode), uint64(st.Uid), uint64(st.Gid), st.Size, st.Ino, uint64(st.Nlink),
		uint64(st.Mtime.Sec), uint64(st.Mtime.Nsec), uint64(st.Ctime.Sec), uint64(st.Ctime.Nsec),
		uint64(st.Rdev_major), uint64(st.Rdev_minor),
	} {
		b = binary.AppendUvarint(b, v)
	}
	s.scratch = b
	s.digest.Write(b)
	return nil
}

// addHybrid appends, for the excluded entry rel, a symlink to it under
// the hybrid path, owned as it is and with its mtime.
func (s *scanner) addHybrid(rel string, st *unix.Statx_t) {
	e := treeEntry{hdr: cpio.Header{
		Name: rel, Mode: fs.ModeSymlink | 0o777, UID: st.Uid, GID: st.Gid,
		ModTime:  min(max(st.Mtime.Sec, 0), cpio.MaxModTime),
		Linkname: path.Join(s.hybrid, rel),
	}}
	s.tree.entries = append(s.tree.entries, e)
	b := append(s.scratch[:0], 'H')
	b = appendString(b, rel)
	b = appendString(b, e.hdr.Linkname)
	b = binary.AppendUvarint(b, uint64(e.hdr.UID))
	b = binary.AppendUvarint(b, uint64(e.hdr.GID))
	b = binary.AppendUvarint(b, uint64(e.hdr.ModTime))
	s.scratch = b
	s.digest.Write(b)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// unixFileMode converts a Unix mode to an fs.FileMode; false for an unknown
// file type.
func unixFileMode(m uint32) (fs.FileMode, bool) {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	default:
		return 0, false
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode, true
}

// progress reports the bytes of file contents archived over both
// archives of a build.
type progress struct {
	fn          func(done, total int64)
	done, total int64
}

// streamTree writes an archive of tree to fan: the public entries (every
// one but the secret files) or, with secret, only the secret files; file
// bodies read from root, then the trailer.
func streamTree(ctx context.Context, root string, tree *scannedTree, fan *fanout, secret bool, prog *progress) error {
	cw := cpio.NewWriter(fan)
	buf := make([]byte, bufSize)
	for i := range tree.entries {
		e := &tree.entries[i]
		if e.later || e.secret != secret {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.hdr.Mode.IsRegular() {
			if err := cw.WriteHeader(&e.hdr); err != nil {
				return err
			}
			continue
		}
		n, err := streamFile(cw, filepath.Join(root, e.hdr.Name), e, buf, func(n int64) {
			if prog.fn != nil {
				prog.fn(prog.done+n, prog.total)
			}
		})
		if err != nil {
			return err
		}
		prog.done += n
	}
	if err := cw.Close(); err != nil {
		return err
	}
	return fan.Flush()
}

// streamFile writes the regular file e, read from full, with its hard
// links, and returns the bytes of body written.
func streamFile(cw *cpio.Writer, full string, e *treeEntry, buf []byte, progress func(int64)) (int64, error) {
	fd, err := unix.Open(full, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &fs.PathError{Op: "open", Path: full, Err: err}
	}
	f := os.NewFile(uintptr(fd), full)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, &fs.PathError{Op: "fstat", Path: full, Err: err}
	}
	if st.Ino != e.ino || st.Dev != e.dev {
		return 0, fmt.Errorf("%s was replaced during the build", full)
	}
	if err := cw.WriteHardLinked(&e.hdr, e.others); err != nil {
		return 0, err
	}
	var done int64
	for done < e.hdr.Size {
		n, err := f.Read(buf[:min(int64(len(buf)), e.hdr.Size-done)])
		if n > 0 {
			if _, err := cw.Write(buf[:n]); err != nil {
				return done, err
			}
			done += int64(n)
			progress(done)
		}
		if errors.Is(err, io.EOF) {
			return done, fmt.Errorf("%s shrank during the build", full)
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
