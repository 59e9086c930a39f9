package cli

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/inventory"
)

// wwctlProcess runs this test binary as wwctl in a child process.
func (tr *tree) wwctlProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], append([]string{"--warewulfconf", tr.conf}, args...)...)
	cmd.Env = append(os.Environ(), "WWCTL_TEST_MAIN=1")
	return cmd
}

// TestConcurrentProcesses runs two wwctl processes, each changing its own
// nodes 100 times, at the same time: every change must be in the file at
// the end (a lost update would show as a missing comment).
func TestConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns 200 processes")
	}
	tr := newTree(t, "")
	tr.mustRun("node", "add", "a[1-10]", "b[1-10]")
	const each = 100
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, prefix := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				node := fmt.Sprintf("%s%d", prefix, i%10+1)
				out, err := tr.wwctlProcess("node", "set", node, "--tagadd", fmt.Sprintf("k%d=v%d", i, i), "--yes").CombinedOutput()
				if err != nil {
					errs <- fmt.Errorf("node set %s: %v\n%s", node, err, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	inv, err := inventory.NewStore(tr.nodes).Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"a", "b"} {
		for i := range each {
			node := fmt.Sprintf("%s%d", prefix, i%10+1)
			if got := inv.Nodes[node].Tags[fmt.Sprintf("k%d", i)]; got != fmt.Sprintf("v%d", i) {
				t.Errorf("%s: tag k%d = %q: a concurrent update was lost", node, i, got)
			}
		}
	}
}

// TestKillDuringWrites kills wwctl at random moments while it rewrites a
// large nodes.conf: the file must always parse, and hold either the old
// or the new content.
func TestKillDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills processes")
	}
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n[0001-1000]", "--ipaddr", "10.0.0.1")
	// Kill at a random point of a run as long as an uninterrupted one, so
	// the kills land inside the write however fast the machine is.
	start := time.Now()
	if out, err := tr.wwctlProcess("node", "set", "n[0001-1000]", "--comment", "timing", "--yes").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	runTime := time.Since(start)
	rng := rand.New(rand.NewSource(1))
	killed := 0
	for i := range 25 {
		cmd := tr.wwctlProcess("node", "set", "n[0001-1000]", "--comment", fmt.Sprintf("round %d", i), "--yes")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int63n(int64(runTime))))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		}
		data, err := os.ReadFile(tr.nodes)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := inventory.Parse(data, tr.nodes)
		if err != nil {
			t.Fatalf("round %d: nodes.conf torn after kill: %v", i, err)
		}
		if len(inv.Nodes) != 1000 {
			t.Fatalf("round %d: %d nodes after kill, want 1000", i, len(inv.Nodes))
		}
		comments := map[string]bool{}
		for _, n := range inv.Nodes {
			if n.Comment != nil {
				comments[*n.Comment] = true
			}
		}
		if len(comments) > 1 {
			t.Fatalf("round %d: a mix of old and new content: %v", i, comments)
		}
	}
	t.Logf("%d of 25 writers killed before they finished", killed)
	if killed == 0 {
		t.Fatal("no writer was interrupted: the test tested nothing")
	}
	// The next writer clears what killed writers left behind.
	tr.mustRun("node", "set", "n0001", "--comment", "final", "--yes")
	leftovers, _ := os.ReadDir(strings.TrimSuffix(tr.nodes, "nodes.conf"))
	for _, e := range leftovers {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}
