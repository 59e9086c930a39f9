package inventory

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func fixtureStore(t *testing.T) (*Store, []byte) {
	t.Helper()
	data, err := os.ReadFile("testdata/warewulf.nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nodes.conf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return NewStore(path), data
}

func TestStoreKeepsCommentsAndOrder(t *testing.T) {
	s, orig := fixtureStore(t)
	_, err := s.Update(context.Background(), func(inv *Inventory) error {
		c := "rack 2"
		inv.Nodes["n001"].Comment = &c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# Site nodes.conf as Warewulf 4.6 writes it, with an administrator's comments.",
		"  # Compute rack 1\n  n001:\n",
		"WW_INTERNAL: 45",
		"comment: rack 2",
		`hwaddr: "AA-BB-CC-00-00-02"`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("written file lacks %q:\n%s", want, got)
		}
	}
	// Key order is the administrator's, not ours: n001 stays first and
	// gpu01 after n002, although gpu01 sorts first.
	if i, j := strings.Index(string(got), "n001:"), strings.Index(string(got), "gpu01:"); i > j {
		t.Errorf("node order changed:\n%s", got)
	}
	// Nothing but the one line changed.
	if d := lineDiff(string(orig), string(got)); d != 1 {
		t.Errorf("%d lines changed, want 1:\n%s", d, got)
	}
}

// lineDiff counts lines of b that are not in a (a rough measure of churn).
func lineDiff(a, b string) int {
	have := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		have[strings.TrimSpace(l)]++
	}
	n := 0
	for _, l := range strings.Split(b, "\n") {
		l = strings.TrimSpace(l)
		if have[l] > 0 {
			have[l]--
			continue
		}
		n++
	}
	return n
}

func TestStoreRefusesAndLeavesFileUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(inv *Inventory) error
		want   string
	}{
		{
			name: "duplicate MAC",
			change: func(inv *Inventory) error {
				mac := "aa:bb:cc:00:00:01"
				inv.Nodes["n002"].NetDevs["default"].Hwaddr = &mac
				return nil
			},
			want: `node "n002": NetDevs[default].Hwaddr: "aa:bb:cc:00:00:01" is also used by node "n001" (NetDevs[default].Hwaddr)`,
		},
		{
			name: "bad IP",
			change: func(inv *Inventory) error {
				ip := "10.0.0.999"
				inv.Nodes["n001"].NetDevs["default"].Ipaddr = &ip
				return nil
			},
			want: `node "n001": NetDevs[default].Ipaddr: "10.0.0.999" is not an IPv4 address`,
		},
		{
			name: "missing profile",
			change: func(inv *Inventory) error {
				inv.Nodes["n001"].Profiles = append(inv.Nodes["n001"].Profiles, "nosuch")
				return nil
			},
			want: `node "n001": Profiles: "nosuch" is not an existing profile`,
		},
		{
			name:   "change function fails",
			change: func(inv *Inventory) error { return errors.New("boom") },
			want:   "boom",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, orig := fixtureStore(t)
			// Check refuses what Update refuses, with the same words.
			if _, err := s.Check(tc.change); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check error = %v, want %q", err, tc.want)
			}
			_, err := s.Update(context.Background(), tc.change)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Update error = %v, want %q", err, tc.want)
			}
			got, _ := os.ReadFile(s.Path())
			if diff := cmp.Diff(string(orig), string(got)); diff != "" {
				t.Errorf("file changed on refusal:\n%s", diff)
			}
		})
	}
}

// Check accepts a valid change and writes nothing.
func TestStoreCheckWritesNothing(t *testing.T) {
	s, orig := fixtureStore(t)
	warnings, err := s.Check(func(inv *Inventory) error {
		c := "checked"
		inv.Nodes["n001"].Comment = &c
		return nil
	})
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Check = %v, %v; want it accepted", warnings, err)
	}
	got, _ := os.ReadFile(s.Path())
	if diff := cmp.Diff(string(orig), string(got)); diff != "" {
		t.Errorf("Check changed the file:\n%s", diff)
	}
}

func TestStoreOldProblemsAreWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.conf")
	conf := "nodes:\n  n1: {network devices: {default: {hwaddr: aa:bb:cc:dd:ee:ff}}}\n  n2: {network devices: {default: {hwaddr: aa:bb:cc:dd:ee:ff}}}\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	warnings, err := NewStore(path).Update(context.Background(), func(inv *Inventory) error {
		c := "x"
		inv.Nodes["n1"].Comment = &c
		return nil
	})
	if err != nil {
		t.Fatalf("an unrelated edit was refused: %v", err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0].String(), "also used") {
		t.Errorf("warnings = %v, want the existing duplicate", warnings)
	}
}

func TestStoreMissingFileStartsFromDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "warewulf", "nodes.conf")
	s := NewStore(path)
	inv, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := inv.Profiles["default"]; !ok {
		t.Fatal("shipped default profile missing")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Load created the file: %v", err)
	}
	if _, err := s.Update(context.Background(), func(inv *Inventory) error {
		inv.Nodes["n1"] = &Node{Profile: Profile{Profiles: []string{"default"}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("new nodes.conf mode %v, want 0600 (it holds BMC passwords)", st.Mode().Perm())
	}
	got, _ := os.ReadFile(path)
	if !strings.Contains(string(got), "nodes:\n  n1:\n    profiles:\n      - default\n") {
		t.Errorf("first node not written in block style:\n%s", got)
	}
}

func TestStoreConcurrentUpdatesAllLand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nodes.conf")
	s := NewStore(path)
	const workers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("w%d-n%d", w, i)
				_, err := NewStore(path).Update(context.Background(), func(inv *Inventory) error {
					inv.Nodes[name] = &Node{}
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	inv, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Nodes) != workers*each {
		t.Errorf("%d nodes after concurrent adds, want %d", len(inv.Nodes), workers*each)
	}
}
