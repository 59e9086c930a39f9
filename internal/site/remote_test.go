package site

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type lines struct {
	mu  sync.Mutex
	got []string
}

func (l *lines) Line(node string, stderr bool, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := "out"
	if stderr {
		s = "err"
	}
	l.got = append(l.got, node+" "+s+" "+line)
}

// TestRunRemote: the program gets the address and the command as
// arguments; lines come whole (a last one without a newline too); a
// slot waits --sleep after its node; a node without an address and a
// program that fails are their nodes' results alone.
func TestRunRemote(t *testing.T) {
	rsh := filepath.Join(t.TempDir(), "rsh")
	script := "#!/bin/sh\naddr=$1; shift\nprintf '%s|%s\\n' \"$addr\" \"$*\"\nprintf 'partial' >&2\n[ \"$addr\" = 10.0.0.3 ] && exit 7\nexit 0\n"
	if err := os.WriteFile(rsh, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	targets := []RemoteTarget{
		{Node: "a", Addr: netip.MustParseAddr("10.0.0.1")},
		{Node: "b", Err: os.ErrNotExist},
		{Node: "c", Addr: netip.MustParseAddr("10.0.0.3")},
	}
	out := &lines{}
	start := time.Now()
	res := RunRemote(context.Background(), targets, RemoteOptions{Rsh: rsh, Command: []string{"echo", "a b"}, Fanout: 1, Sleep: 300 * time.Millisecond}, out)
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Errorf("two nodes at fanout 1 with a 300ms sleep took %v", d)
	}
	slices.Sort(out.got)
	want := []string{"a err partial", "a out 10.0.0.1|echo a b", "c err partial", "c out 10.0.0.3|echo a b"}
	if diff := cmp.Diff(want, out.got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	var got []string
	for _, r := range res {
		s := r.Node + " " + strconv.Itoa(r.ExitCode)
		if r.Err != nil {
			s += " " + r.Err.Error()
		}
		got = append(got, s)
	}
	if diff := cmp.Diff([]string{"a 0", "b -1 file does not exist", "c 7 exit code 7"}, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	groups := SummarizeRemote(res)
	wantGroups := []RemoteGroup{
		{Nodes: []string{"a"}, Outcome: "exit code 0"},
		{Nodes: []string{"c"}, Failed: true, Outcome: "exit code 7"},
		{Nodes: []string{"b"}, Failed: true, Outcome: "file does not exist"},
	}
	if diff := cmp.Diff(wantGroups, groups); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}
