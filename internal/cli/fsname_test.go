package cli

import (
	"strings"
	"testing"
)

// TestFsnameRelativePathRefused: --fsname=dev/vda1 (a typo for /dev/vda1)
// is refused with an error naming it, and nodes.conf is left as it was.
func TestFsnameRelativePathRefused(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n1")
	before := tr.nodesConf()
	_, _, err := tr.run("", "node", "set", "n1", "--fsname=dev/vda1", "--fspath=/scratch", "--fsformat=ext4", "--yes")
	if err == nil || !strings.Contains(err.Error(), "dev/vda1") || !strings.Contains(err.Error(), "partition label") {
		t.Errorf("node set --fsname=dev/vda1: %v, want a refusal naming it", err)
	}
	if after := tr.nodesConf(); after != before {
		t.Errorf("nodes.conf changed:\n%s", after)
	}
	tr.mustRun("node", "set", "n1", "--fsname=/dev/vda1", "--fspath=/scratch", "--fsformat=ext4", "--yes")
	if !strings.Contains(tr.nodesConf(), "/dev/vda1:") {
		t.Errorf("a device path was not taken:\n%s", tr.nodesConf())
	}
}
