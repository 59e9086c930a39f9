package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/cpio"
	"github.com/wwboot/wwboot/internal/nodeclient"
)

// maxOverlay bounds the unpacked size of a runtime overlay, which is held
// in memory whole before anything is written.
const maxOverlay = 1 << 30

// entry is one file, directory or symlink of a runtime overlay.
type entry struct {
	name     string // clean, relative, slash separated
	mode     fs.FileMode
	uid, gid int
	data     []byte
	target   string
}

// readOverlay unpacks a (possibly compressed) runtime overlay: one or
// more newc archives one after the other, as the server concatenates its
// parts (nodeclient.Walk); an empty body is an empty overlay. A later entry of the same name replaces an earlier one, as when
// the kernel unpacks them. Nothing is written anywhere.
func readOverlay(body []byte) ([]*entry, error) {
	byName := map[string]*entry{}
	var links map[uint32][]*entry // hard links of the current archive by inode
	current, total := 0, 0
	err := nodeclient.Walk(bytes.NewReader(body), nodeclient.WalkOptions{MaxBytes: maxOverlay, Empty: true},
		func(archive int, h *cpio.Header, r io.Reader) error {
			if archive != current {
				shareLinks(links)
				current, links = archive, map[uint32][]*entry{}
			}
			if h.Name == "." {
				return nil
			}
			e := &entry{name: h.Name, mode: h.Mode, uid: int(h.UID), gid: int(h.GID), target: h.Linkname}
			switch h.Mode.Type() {
			case 0:
				if total += int(h.Size); total > maxOverlay {
					return fmt.Errorf("runtime overlay larger than %d bytes", maxOverlay)
				}
				var err error
				if e.data, err = io.ReadAll(r); err != nil {
					return fmt.Errorf("archive %d: %s: %w", archive, h.Name, err)
				}
				if h.Nlink > 1 {
					links[h.Ino] = append(links[h.Ino], e)
				}
			case fs.ModeDir, fs.ModeSymlink:
			default:
				return nil // devices, fifos and sockets are not placed by wwclient
			}
			byName[e.name] = e
			return nil
		})
	if errors.Is(err, nodeclient.ErrTooLarge) {
		return nil, fmt.Errorf("runtime overlay larger than %d bytes", maxOverlay)
	}
	if err != nil {
		return nil, err
	}
	shareLinks(links)
	return sorted(byName), nil
}

// shareLinks gives every name of a hard-linked file its content: newc
// stores it with the last name only.
func shareLinks(links map[uint32][]*entry) {
	for _, group := range links {
		var data []byte
		for _, e := range group {
			if len(e.data) > 0 {
				data = e.data
			}
		}
		for _, e := range group {
			e.data = data
		}
	}
}

func sorted(m map[string]*entry) []*entry {
	out := make([]*entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int { return strings.Compare(a.name, b.name) })
	return out
}

// state is what wwclient remembers between contacts, in StateFile: the
// ETag of the overlay it last applied and the files and links that
// overlay placed, so it can remove those the next one no longer has.
type state struct {
	ETag  string   `json:"etag"`
	Files []string `json:"files"`
}

func readState(p string) state {
	var st state
	data, err := os.ReadFile(p)
	if err == nil {
		if json.Unmarshal(data, &st) != nil {
			st = state{}
		}
	}
	return st
}

func writeState(p string, st state) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, append(data, '\n'), 0o600)
}

// applier writes an overlay below root.
type applier struct {
	root  string
	chown bool // only root may give files away
}

// apply places every entry below root and removes the files and links of
// prev that entries no longer has; it returns the files and links the
// overlay places. Each file and link is written under a temporary name
// in its directory and renamed over the old one, so a reader sees the
// old or the new content, never a mix. Directories that exist keep their
// mode and owner (the overlay's parents of /root or /tmp must not change
// them); new ones get the overlay's. A failed entry does not stop the
// others; the errors are returned together.
func (a *applier) apply(entries []*entry, prev []string) (placed []string, changed int, err error) {
	var errs []error
	keep := map[string]bool{}
	for _, e := range entries {
		if e.mode.Type() != fs.ModeDir {
			keep[e.name] = true
			placed = append(placed, e.name)
		}
		did, err := a.applyOne(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("/%s: %w", e.name, err))
		} else if did {
			changed++
		}
	}
	for _, name := range prev {
		if keep[name] || !validRel(name) {
			continue
		}
		p := a.path(name)
		st, err := os.Lstat(p)
		if err != nil || st.IsDir() {
			continue
		}
		if err := os.Remove(p); err != nil {
			errs = append(errs, fmt.Errorf("remove /%s: %w", name, err))
			continue
		}
		changed++
	}
	return placed, changed, errors.Join(errs...)
}

func validRel(name string) bool {
	return name != "" && !path.IsAbs(name) && path.Clean(name) == name && name != ".." && !strings.HasPrefix(name, "../")
}

func (a *applier) path(name string) string { return filepath.Join(a.root, filepath.FromSlash(name)) }

// applyOne places e; it reports whether anything changed.
func (a *applier) applyOne(e *entry) (bool, error) {
	if !validRel(e.name) {
		return false, errors.New("name leaves the root")
	}
	p := a.path(e.name)
	cur, statErr := os.Lstat(p)
	if e.mode.Type() == fs.ModeDir {
		if statErr == nil {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return false, nil // an existing directory, or a link to one (merged /usr)
			}
			return false, errors.New("is not a directory on the node")
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, err
		}
		if err := os.Mkdir(p, e.mode.Perm()); err != nil {
			return false, err
		}
		return true, a.setMeta(p, e, false)
	}
	if statErr == nil && cur.IsDir() {
		return false, errors.New("is a directory on the node")
	}
	if statErr == nil && a.same(p, cur, e) {
		return false, nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	tmp, err := tempName(dir, filepath.Base(p))
	if err != nil {
		return false, err
	}
	if e.mode.Type() == fs.ModeSymlink {
		if err := os.Symlink(e.target, tmp); err != nil {
			return false, err
		}
		if err := a.setMeta(tmp, e, true); err != nil {
			os.Remove(tmp)
			return false, err
		}
	} else if err := a.writeTemp(tmp, e); err != nil {
		os.Remove(tmp)
		return false, err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return false, err
	}
	return true, nil
}

func (a *applier) writeTemp(tmp string, e *entry) error {
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(e.data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return a.setMeta(tmp, e, false)
}

// modeBits are the mode bits an entry gives its file: permissions and
// the set-id and sticky bits.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// setMeta gives p the entry's owner, then its mode (chown clears the
// set-id bits).
func (a *applier) setMeta(p string, e *entry, link bool) error {
	if a.chown {
		if err := os.Lchown(p, e.uid, e.gid); err != nil {
			return err
		}
	}
	if link {
		return nil
	}
	return os.Chmod(p, e.mode&modeBits)
}

// same reports whether p (with Lstat cur) already is e.
func (a *applier) same(p string, cur fs.FileInfo, e *entry) bool {
	if a.chown {
		if sys, ok := cur.Sys().(*syscall.Stat_t); ok && (int(sys.Uid) != e.uid || int(sys.Gid) != e.gid) {
			return false
		}
	}
	switch e.mode.Type() {
	case fs.ModeSymlink:
		if cur.Mode().Type() != fs.ModeSymlink {
			return false
		}
		t, err := os.Readlink(p)
		return err == nil && t == e.target
	default:
		if !cur.Mode().IsRegular() || cur.Mode()&modeBits != e.mode&modeBits ||
			cur.Size() != int64(len(e.data)) {
			return false
		}
		data, err := os.ReadFile(p)
		return err == nil && bytes.Equal(data, e.data)
	}
}

func tempName(dir, base string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, "."+base+".wwclient-"+hex.EncodeToString(b[:])), nil
}
