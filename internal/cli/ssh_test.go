package cli

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/sshdtest"
)

// sshTree is a tree whose nodes n1..n<up> are real sshd servers, n<up+1>
// an address where nothing listens and "noaddr" a node without one.
func sshTree(t *testing.T, up int) (*tree, *sshdtest.Cluster) {
	t.Helper()
	c := sshdtest.Start(t, up, 1)
	tr := newTree(t, "")
	for i, a := range append(slices.Clone(c.Addrs), c.Down...) {
		tr.mustRun("node", "add", fmt.Sprintf("n%d", i+1), "--ipaddr", a.String(), "-N", "eth0")
	}
	tr.mustRun("node", "add", "noaddr")
	return tr, c
}

// TestSSH runs a command on real sshd servers: each line is prefixed
// with its node on the stream it was written to, the summary groups the
// exit codes (255 for the node that is down) and names the node without
// an address, and wwctl fails.
func TestSSH(t *testing.T) {
	tr, c := sshTree(t, 4)
	failing := c.Addrs[3].String()
	stdout, stderr, err := tr.run("", "ssh", "--rsh", c.Rsh, "n[1-5],noaddr", "--",
		`echo "first line"; echo "to stderr" >&2; printf 'no newline'; case "$SSH_CONNECTION" in *" `+failing+` "*) exit 3;; esac`)
	if err == nil || err.Error() != "3 of 6 nodes failed" {
		t.Errorf("error %v, want 3 of 6 nodes failed", err)
	}
	var wantOut []string
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		wantOut = append(wantOut, n+": first line", n+": no newline")
	}
	if diff := cmp.Diff(wantOut, sortedLines(stdout)); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	errLines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(errLines) < 4 {
		t.Fatalf("stderr:\n%s", stderr)
	}
	summary := errLines[len(errLines)-4:]
	wantSummary := []string{
		"n[1-3]: exit code 0",
		"n4: exit code 3",
		"n5: exit code 255",
		"noaddr: no network device",
	}
	if diff := cmp.Diff(wantSummary, summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	prefixed := sortedLines(strings.Join(errLines[:len(errLines)-4], "\n"))
	wantErr := []string{"n1: to stderr", "n2: to stderr", "n3: to stderr", "n4: to stderr"}
	if len(prefixed) != 5 || !cmp.Equal(wantErr, prefixed[:4]) ||
		!strings.HasPrefix(prefixed[4], "n5: ssh: connect to host "+c.Down[0].String()) || !strings.Contains(prefixed[4], "Connection refused") {
		t.Errorf("stderr lines %q, want %q and n5's connection refused", prefixed, wantErr)
	}

	// All well: exit 0, the summary alone on stderr.
	stdout, stderr, err = tr.run("", "ssh", "--rsh", c.Rsh, "n[1-3]", "true")
	if err != nil || stdout != "" || stderr != "n[1-3]: exit code 0\n" {
		t.Errorf("n[1-3] true: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
}

// TestSSHFanout: with --fanout 2 four nodes' commands run two at a
// time. The nodes are local sshd servers, so the commands share a
// directory: each marks itself running there, waits (up to 20 s) until
// two are, and reports how many it saw then and a moment later. Without
// the fanout limit more than two would be seen; with a limit of one the
// wait would end with only one. No timing decides the result.
func TestSSHFanout(t *testing.T) {
	tr, c := sshTree(t, 4)
	dir := t.TempDir()
	count := `$(ls "$d" | grep -c '^run\.')`
	stdout := tr.mustRun("ssh", "--rsh", c.Rsh, "--fanout", "2", "n[1-4]", "--",
		`d=`+dir+`; touch "$d/run.$$"; i=0; while [ `+count+` -lt 2 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; `+
			`a=`+count+`; sleep 0.3; echo running $a `+count+`; rm "$d/run.$$"`)
	lines := sortedLines(stdout)
	if len(lines) != 4 {
		t.Fatalf("stdout:\n%s", stdout)
	}
	for i, line := range lines {
		// Two when the wait ended; a moment later one or two (the
		// other may have ended, and the next not started yet).
		var node string
		var first, later int
		if _, err := fmt.Sscanf(line, "%s running %d %d", &node, &first, &later); err != nil ||
			node != fmt.Sprintf("n%d:", i+1) || first != 2 || later < 1 || later > 2 {
			t.Errorf("line %q, want n%d: running 2 and then 1 or 2 (%v)", line, i+1, err)
		}
	}
}

// TestSSHDryRun prints each node's command line and runs nothing.
func TestSSHDryRun(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n[1-2]", "--ipaddr", "10.0.0.1", "-N", "eth0")
	tr.mustRun("node", "add", "n3", "-N", "eth0")
	stdout, stderr, err := tr.run("", "ssh", "-n", "--rsh", "/no/such/rsh", "n[1-3]", "--", "uname", "-r")
	want := "n1: /no/such/rsh 10.0.0.1 uname -r\nn2: /no/such/rsh 10.0.0.2 uname -r\n"
	if err == nil || stdout != want || stderr != "n3: primary network device default has no IPv4 address\n" {
		t.Errorf("dry run: %v\nstdout %q, want %q\nstderr %q", err, stdout, want, stderr)
	}
}

func TestSSHBadInput(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n1", "--ipaddr", "10.0.0.1")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no command", args: []string{"ssh", "n1"}, want: "requires at least 2 arg(s)"},
		{name: "fanout 0", args: []string{"ssh", "--fanout", "0", "n1", "true"}, want: "--fanout 0: must be at least 1"},
		{name: "negative sleep", args: []string{"ssh", "--sleep", "-1", "n1", "true"}, want: "--sleep -1: must not be negative"},
		{name: "unknown node", args: []string{"ssh", "n[1-2]", "true"}, want: "no such node: n2"},
		{name: "rsh that does not exist", args: []string{"ssh", "--rsh", "/no/such/rsh", "n1", "true"}, want: "1 of 1 nodes failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, err := tr.run("", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q (stderr %q)", err, tc.want, stderr)
			}
		})
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	slices.Sort(lines)
	return lines
}
