package stage1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// rootDev is a wwroot value that names a block device: a plain /dev
// path, or what is on the device (Key LABEL, UUID, PARTLABEL or
// PARTUUID), given as udev's /dev/disk/by-* link or in fstab's KEY=
// form.
type rootDev struct {
	Path       string // a plain /dev path; empty when Key is set
	Key, Value string
}

func (d rootDev) String() string {
	if d.Key == "" {
		return d.Path
	}
	return d.Key + "=" + d.Value
}

// byLink is udev's /dev/disk directory for each key.
var byLink = []struct{ dir, key string }{
	{"/dev/disk/by-label/", "LABEL"},
	{"/dev/disk/by-uuid/", "UUID"},
	{"/dev/disk/by-partlabel/", "PARTLABEL"},
	{"/dev/disk/by-partuuid/", "PARTUUID"},
}

// parseRootDev reads a device root. Without udev in the bootstrap the
// other /dev/disk links (by-id, by-path) never appear, so they are
// refused rather than waited for.
func parseRootDev(root string) (rootDev, error) {
	for _, b := range byLink {
		if v, ok := strings.CutPrefix(root, b.dir); ok {
			if v == "" || strings.Contains(v, "/") {
				return rootDev{}, fmt.Errorf("%s: want %sNAME", root, b.dir)
			}
			return rootDev{Key: b.key, Value: udevUnescape(v)}, nil
		}
	}
	if strings.HasPrefix(root, "/dev/disk/") {
		return rootDev{}, fmt.Errorf("%s: stage one has no udev; of /dev/disk it understands by-label, by-uuid, by-partlabel and by-partuuid", root)
	}
	if strings.HasPrefix(root, "/dev/") {
		return rootDev{Path: root}, nil
	}
	k, v, ok := strings.Cut(root, "=")
	if !ok {
		return rootDev{}, fmt.Errorf("%s: stage one handles initramfs, tmpfs, ramfs, /dev/... and LABEL=, UUID=, PARTLABEL=, PARTUUID= roots", root)
	}
	switch k {
	case "LABEL", "UUID", "PARTLABEL", "PARTUUID":
	default:
		return rootDev{}, fmt.Errorf("%s: unknown form %s=; stage one understands LABEL=, UUID=, PARTLABEL= and PARTUUID=", root, k)
	}
	if v == "" {
		return rootDev{}, fmt.Errorf("%s: empty %s", root, k)
	}
	return rootDev{Key: k, Value: v}, nil
}

// udevUnescape undoes udev's \xNN escapes of /dev/disk link names (a
// label "my root" is by-label/my\x20root).
func udevUnescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if c, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// blockDev is a block device of sysfs and what names it.
type blockDev struct {
	Name string // the kernel's: vda2
	Path string // its node: /dev/vda2
	FS   fsID
	Part part
	// Err is why the device could not be read; it is then not matched.
	Err error
}

// id is the device's value for key.
func (d blockDev) id(key string) string {
	switch key {
	case "LABEL":
		return d.FS.Label
	case "UUID":
		return d.FS.UUID
	case "PARTLABEL":
		return d.Part.Name
	case "PARTUUID":
		return d.Part.UUID
	}
	return ""
}

// mknodFunc makes a block device node for dev major:minor at path.
type mknodFunc func(path string, major, minor uint32) error

// scanBlockDevs lists the block devices of sysDir (/sys/class/block)
// with their nodes under devDir (/dev), made with mknod where devtmpfs
// has not: a disk's partition table names its partitions, a partition's
// or an unpartitioned disk's superblock names its file system. Empty
// devices (an unbound loop, a CD drive without a disc) and floppy
// drives are left out.
func scanBlockDevs(sysDir, devDir string, mknod mknodFunc) ([]blockDev, error) {
	entries, err := os.ReadDir(sysDir)
	if err != nil {
		return nil, fmt.Errorf("list block devices: %w", err)
	}
	var devs []blockDev
	// The disk and number of each partition, from the disk's directory.
	type slot struct {
		disk string
		n    int
	}
	partOf := map[string]slot{}
	partitioned := map[string]bool{}
	tables := map[string]map[int]part{}
	tableErr := map[string]error{}
	for _, e := range entries {
		name := e.Name()
		dir := filepath.Join(sysDir, name)
		if sysInt(filepath.Join(dir, "size")) <= 0 || isFloppy(name) {
			continue
		}
		d := blockDev{Name: name, Path: filepath.Join(devDir, strings.ReplaceAll(name, "!", "/"))}
		d.Err = ensureNode(d.Path, filepath.Join(dir, "dev"), mknod)
		devs = append(devs, d)
		if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
			continue
		}
		subs, _ := os.ReadDir(dir)
		for _, s := range subs {
			if n := sysInt(filepath.Join(dir, s.Name(), "partition")); n > 0 {
				partOf[s.Name()] = slot{disk: name, n: int(n)}
				partitioned[name] = true
			}
		}
	}
	for i := range devs {
		d := &devs[i]
		if d.Err != nil {
			continue
		}
		if s, ok := partOf[d.Name]; ok {
			t, done := tables[s.disk]
			if !done {
				t, tableErr[s.disk] = diskTable(sysDir, devDir, s.disk)
				tables[s.disk] = t
			}
			if err := tableErr[s.disk]; err != nil {
				d.Err = fmt.Errorf("partition table of %s: %w", s.disk, err)
				continue
			}
			d.Part = t[s.n]
		} else if partitioned[d.Name] {
			continue // a partitioned disk: any superblock there is stale
		}
		d.FS, d.Err = probeDev(d.Path)
	}
	return devs, nil
}

// isFloppy is whether name is a floppy drive, which udev does not probe
// either: reading one without a disk takes seconds of retries.
func isFloppy(name string) bool {
	rest, ok := strings.CutPrefix(name, "fd")
	return ok && rest != "" && strings.Trim(rest, "0123456789") == ""
}

// diskTable reads the partition table of disk, with its logical sector
// size.
func diskTable(sysDir, devDir, disk string) (map[int]part, error) {
	sector := sysInt(filepath.Join(sysDir, disk, "queue", "logical_block_size"))
	if sector <= 0 {
		sector = 512
	}
	f, err := os.Open(filepath.Join(devDir, strings.ReplaceAll(disk, "!", "/")))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readPartTable(f, sector)
}

func probeDev(path string) (fsID, error) {
	f, err := os.Open(path)
	if err != nil {
		return fsID{}, err
	}
	defer f.Close()
	id, err := probeFS(f)
	if errors.Is(err, errNoFS) {
		return fsID{}, nil
	}
	return id, err
}

// ensureNode makes the node at path from the MAJOR:MINOR of devFile
// unless it exists.
func ensureNode(path, devFile string, mknod mknodFunc) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b, err := os.ReadFile(devFile)
	if err != nil {
		return err
	}
	maj, min, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return fmt.Errorf("%s: %q is not MAJOR:MINOR", devFile, b)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := mknod(path, uint32(ma), uint32(mi)); err != nil {
		return fmt.Errorf("mknod %s: %w", path, err)
	}
	return nil
}

// sysInt reads a sysfs number; -1 when absent or not a number.
func sysInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// notFoundError is findRootDev's answer when no device matches yet: it
// says what was seen.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// findRootDev is the node of the one device that root names. UUIDs
// match in any case (blkid prints FAT's in upper case), labels exactly.
// Two devices with the name are an error: which one holds the root is
// not for stage one to guess.
func findRootDev(root rootDev, devs []blockDev) (string, error) {
	match := func(v string) bool { return v == root.Value }
	if strings.HasSuffix(root.Key, "UUID") {
		match = func(v string) bool { return strings.EqualFold(v, root.Value) }
	}
	var found []blockDev
	for _, d := range devs {
		if v := d.id(root.Key); v != "" && match(v) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 1:
		return found[0].Path, nil
	case 0:
		return "", &notFoundError{fmt.Sprintf("no block device has %s %q (%s)", root.Key, root.Value, seen(root.Key, devs))}
	}
	names := make([]string, len(found))
	for i, d := range found {
		names[i] = d.Name
	}
	return "", fmt.Errorf("%s %q is on %s: stage one will not choose", root.Key, root.Value, strings.Join(names, " and "))
}

// seen says what the devices have of key, for an error.
func seen(key string, devs []blockDev) string {
	if len(devs) == 0 {
		return "no block devices at all"
	}
	var with, without, failed []string
	for _, d := range devs {
		switch v := d.id(key); {
		case d.Err != nil:
			failed = append(failed, fmt.Sprintf("%s (%v)", d.Name, d.Err))
		case v != "":
			with = append(with, fmt.Sprintf("%s %s %q", d.Name, key, v))
		default:
			without = append(without, d.Name)
		}
	}
	var out []string
	if len(with) > 0 {
		out = append(out, "seen: "+strings.Join(with, ", "))
	}
	if len(without) > 0 {
		out = append(out, "without a "+key+": "+strings.Join(without, ", "))
	}
	if len(failed) > 0 {
		out = append(out, "unreadable: "+strings.Join(failed, ", "))
	}
	return strings.Join(out, "; ")
}
