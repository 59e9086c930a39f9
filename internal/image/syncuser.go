package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// IDChange is one user or group whose id syncuser changes in an image.
type IDChange struct {
	Kind     string // "user" or "group"
	Name     string
	From, To int
}

// SyncResult is what SyncUsers did, or would do.
type SyncResult struct {
	Changes []IDChange
	Files   int // files whose owner changed
}

// SyncUsers gives the image's users and groups that also exist on the
// server (hostPasswd, hostGroup) the server's ids, as Warewulf's syncuser
// does, so files on shared filesystems have the same owners on nodes and
// server. With write it rewrites the image's etc/passwd and etc/group and
// changes the owner of every file that used an old id; otherwise it only
// reports. An image-only user or group whose id a server one would take
// is a conflict, and nothing is changed.
func SyncUsers(ctx context.Context, root, hostPasswd, hostGroup string, write bool) (*SyncResult, error) {
	res := &SyncResult{}
	uidMap, users, err := idMap(filepath.Join(root, "etc/passwd"), hostPasswd, 2, "user", res)
	if err != nil {
		return nil, err
	}
	gidMap, groups, err := idMap(filepath.Join(root, "etc/group"), hostGroup, 2, "group", res)
	if err != nil {
		return nil, err
	}
	sort.Slice(res.Changes, func(i, j int) bool {
		if res.Changes[i].Kind != res.Changes[j].Kind {
			return res.Changes[i].Kind > res.Changes[j].Kind
		}
		return res.Changes[i].Name < res.Changes[j].Name
	})
	if !write || (len(uidMap) == 0 && len(gidMap) == 0) {
		return res, nil
	}
	// passwd's fourth field is the user's primary group.
	if err := rewrite(filepath.Join(root, "etc/passwd"), users, func(f []string) {
		f[2] = mapID(f[2], uidMap)
		if len(f) > 3 {
			f[3] = mapID(f[3], gidMap)
		}
	}); err != nil {
		return nil, err
	}
	if err := rewrite(filepath.Join(root, "etc/group"), groups, func(f []string) { f[2] = mapID(f[2], gidMap) }); err != nil {
		return nil, err
	}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		uid, uok := uidMap[int(st.Uid)]
		gid, gok := gidMap[int(st.Gid)]
		if !uok && !gok {
			return nil
		}
		if !uok {
			uid = int(st.Uid)
		}
		if !gok {
			gid = int(st.Gid)
		}
		// Lchown clears setuid/setgid bits on files; put them back.
		mode := info.Mode()
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		if mode&(fs.ModeSetuid|fs.ModeSetgid) != 0 && mode&fs.ModeSymlink == 0 {
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
		}
		res.Files++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("syncuser: %w", err)
	}
	return res, nil
}

// entries is a parsed passwd or group file: its lines, split on ":".
type entries [][]string

func readEntries(path string) (entries, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("syncuser: %w", err)
	}
	var out entries
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		out = append(out, strings.Split(sc.Text(), ":"))
	}
	return out, sc.Err()
}

// idMap maps the image's ids (field idx) to the server's for names found
// in both, recording changes; it fails on conflicts.
func idMap(imagePath, hostPath string, idx int, kind string, res *SyncResult) (map[int]int, entries, error) {
	img, err := readEntries(imagePath)
	if err != nil {
		return nil, nil, err
	}
	host, err := readEntries(hostPath)
	if err != nil {
		return nil, nil, err
	}
	hostIDs := map[string]int{}
	for _, f := range host {
		if len(f) > idx && f[0] != "" && !strings.HasPrefix(f[0], "#") {
			if id, err := strconv.Atoi(f[idx]); err == nil {
				hostIDs[f[0]] = id
			}
		}
	}
	m := map[int]int{}
	owner := map[int]string{} // id -> image name using it after the change
	var pending []IDChange
	for _, f := range img {
		if len(f) <= idx || f[0] == "" || strings.HasPrefix(f[0], "#") {
			continue
		}
		id, err := strconv.Atoi(f[idx])
		if err != nil {
			continue
		}
		to, onHost := hostIDs[f[0]]
		if !onHost || to == id {
			owner[id] = f[0]
			continue
		}
		m[id] = to
		pending = append(pending, IDChange{Kind: kind, Name: f[0], From: id, To: to})
	}
	var conflicts []string
	for _, c := range pending {
		if other, taken := owner[c.To]; taken {
			conflicts = append(conflicts, fmt.Sprintf("%s %s would take id %d, which image-only %s %s has", kind, c.Name, c.To, kind, other))
		}
	}
	if len(conflicts) > 0 {
		return nil, nil, fmt.Errorf("syncuser: %s", strings.Join(conflicts, "; "))
	}
	res.Changes = append(res.Changes, pending...)
	return m, img, nil
}

func mapID(s string, m map[int]int) string {
	if id, err := strconv.Atoi(s); err == nil {
		if to, ok := m[id]; ok {
			return strconv.Itoa(to)
		}
	}
	return s
}

func rewrite(path string, lines entries, change func([]string)) error {
	var buf bytes.Buffer
	for _, f := range lines {
		if len(f) > 2 && f[0] != "" && !strings.HasPrefix(f[0], "#") {
			change(f)
		}
		buf.WriteString(strings.Join(f, ":"))
		buf.WriteByte('\n')
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}
