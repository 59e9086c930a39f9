package inventory

import (
	"fmt"
	"path"
	"strings"
)

// partLabelDir is where udev names partitions by their GPT label.
const partLabelDir = "/dev/disk/by-partlabel/"

// FileSystemKey is the key in "filesystems" of the filesystem the command
// line calls name (--fsname): a device path under /dev as given, or a
// bare partition label, which becomes /dev/disk/by-partlabel/LABEL as in
// Warewulf. Anything else (a relative path such as "dev/vda1", a path
// outside /dev, ".." in it) is refused: Warewulf's filesystems need an
// underlying block device.
func FileSystemKey(name string) (string, error) {
	if msg := fileSystemKeyProblem(name); msg != "" {
		return "", fmt.Errorf("filesystem %q: %s", name, msg)
	}
	if strings.HasPrefix(name, "/") {
		return name, nil
	}
	return partLabelDir + name, nil
}

// fileSystemKeyProblem says what is wrong with a filesystem name, "" if
// nothing.
func fileSystemKeyProblem(name string) string {
	switch {
	case name == "":
		return "empty name"
	case strings.HasPrefix(name, "/"):
		if !strings.HasPrefix(name, "/dev/") || path.Clean(name) != name {
			return "a filesystem's device must be a clean path under /dev (such as /dev/vda1), or a partition label"
		}
		if label, ok := strings.CutPrefix(name, partLabelDir); ok && (label == "" || strings.Contains(label, "/")) {
			return "a partition label cannot be empty or hold \"/\""
		}
	case strings.Contains(name, "/"):
		return "a relative path is neither a device path (/dev/...) nor a partition label (which has no \"/\")"
	}
	return ""
}
