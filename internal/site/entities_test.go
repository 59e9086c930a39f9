package site

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

const entitiesNodes = `nodeprofiles:
  default:
    system overlay: [sys]
  gpu:
    profiles: [default]
    runtime overlay: [rt]
nodes:
  n10:
    profiles: [default]
    system overlay: [sys, gone]
  n2:
    profiles: [gpu]
  n3: {}
`

func parseInventory(t *testing.T, text string) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Parse([]byte(text), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func TestKindSelect(t *testing.T) {
	inv := parseInventory(t, entitiesNodes)
	tests := []struct {
		name     string
		kind     Kind
		patterns []string
		all      bool
		want     []string
		wantErr  string
	}{
		{name: "all nodes in natural order", kind: NodeKind, all: true, want: []string{"n2", "n3", "n10"}},
		{name: "all profiles", kind: ProfileKind, all: true, want: []string{"default", "gpu"}},
		{name: "a range, sorted", kind: NodeKind, patterns: []string{"n10", "n[2-3]"}, want: []string{"n2", "n3", "n10"}},
		{name: "missing names compressed", kind: NodeKind, patterns: []string{"n[1-4]"}, wantErr: "no such node: n[1,4]"},
		{name: "a node is not a profile", kind: ProfileKind, patterns: []string{"n2"}, wantErr: "no such profile: n2"},
		{name: "bad pattern", kind: NodeKind, patterns: []string{"n[1-"}, wantErr: "any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.kind.Select(inv, tt.patterns, tt.all)
			switch {
			case tt.wantErr == "any" && err != nil:
				return
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selected (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKindOwnAndMerged(t *testing.T) {
	inv := parseInventory(t, entitiesNodes)
	tests := []struct {
		name         string
		kind         Kind
		entity       string
		wantOverlays [2][]string
		wantMerged   string
	}{
		{name: "node's own lists", kind: NodeKind, entity: "n10", wantOverlays: [2][]string{{"sys", "gone"}, nil},
			wantMerged: "n10:\n  profiles:\n    - default\n  system overlay:\n    - sys\n    - sys\n    - gone\n"},
		{name: "profile's own lists", kind: ProfileKind, entity: "gpu", wantOverlays: [2][]string{nil, {"rt"}},
			wantMerged: "gpu:\n  profiles:\n    - default\n  runtime overlay:\n    - rt\n  system overlay:\n    - sys\n"},
		{name: "missing", kind: NodeKind, entity: "n99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.wantOverlays, tt.kind.Overlays(inv, tt.entity)); diff != "" {
				t.Errorf("overlays (-want +got):\n%s", diff)
			}
			if !tt.kind.Has(inv, tt.entity) {
				return
			}
			ms, err := tt.kind.Merge(inv, []string{tt.entity}, false)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			enc := yaml.NewEncoder(&buf)
			enc.SetIndent(2)
			if err := enc.Encode(tt.kind.EncodeMerged([]string{tt.entity}, ms)); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantMerged, buf.String()); diff != "" {
				t.Errorf("merged (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKindParsePutDelete(t *testing.T) {
	tests := []struct {
		name      string
		kind      Kind
		text      string
		delete    []string
		wantNames []string
		wantErr   error
	}{
		{name: "put replaces a node, delete removes one", kind: NodeKind, text: "n3:\n  comment: new\nn4: {}\n",
			delete: []string{"n2"}, wantNames: []string{"n3", "n4", "n10"}},
		{name: "profiles", kind: ProfileKind, text: "ib: {}\n", delete: []string{"ib"}, wantNames: []string{"default", "gpu"}},
		{name: "the default profile stays", kind: ProfileKind, text: "ib: {}\n", delete: []string{"default"}, wantErr: ErrDefaultProfile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := parseInventory(t, entitiesNodes)
			set, err := tt.kind.Parse([]byte(tt.text), "input")
			if err != nil {
				t.Fatal(err)
			}
			set.Put(inv)
			err = tt.kind.Delete(inv, tt.delete)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("delete: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !tt.kind.Has(inv, tt.delete[0]) {
					t.Errorf("%s deleted though refused", tt.delete[0])
				}
				return
			}
			if diff := cmp.Diff(tt.wantNames, tt.kind.Names(inv)); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
	// An unknown key is a warning the front end decides about: the CLI
	// keeps it, the API refuses it.
	set, err := NodeKind.Parse([]byte("n1:\n  nosuchkey: 1\n"), "input")
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Warnings) != 1 || !set.Warnings[0].Kept || set.Warnings[0].Key != "nosuchkey" {
		t.Errorf("warnings = %v, want one about the unknown key", set.Warnings)
	}
}

func TestCheckNewOverlays(t *testing.T) {
	tests := []struct {
		name    string
		kind    Kind
		entity  string
		change  string // the entity's new own fields
		wantErr string
	}{
		{name: "an overlay already listed is left alone", kind: NodeKind, entity: "n10", change: "system overlay: [sys, gone]\n"},
		{name: "a new missing overlay is refused", kind: NodeKind, entity: "n3", change: "runtime overlay: [~nosuch]\n",
			wantErr: `node runtime overlay: overlay "nosuch" does not exist`},
		{name: "a new existing overlay", kind: ProfileKind, entity: "gpu", change: "system overlay: [sys, wwinit]\n"},
		{name: "a new profile", kind: ProfileKind, entity: "ib", change: "system overlay: [missing]\n",
			wantErr: `profile system overlay: overlay "missing" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openSite(t, nil)
			sitetest.Write(t, filepath.Join(s.Overlays().Site, "sys/rootfs/etc/issue"), "hi")
			inv := parseInventory(t, entitiesNodes)
			before := tt.kind.Overlays(inv, tt.entity)
			set, err := tt.kind.Parse([]byte(tt.entity+":\n  "+tt.change), "input")
			if err != nil {
				t.Fatal(err)
			}
			set.Put(inv)
			err = s.CheckNewOverlays(tt.kind, inv, tt.entity, before)
			got := ""
			if err != nil {
				got = err.Error()
				var oe *OverlayFieldError
				if !errors.As(err, &oe) {
					t.Errorf("error %T, want *OverlayFieldError", err)
				}
			}
			if got != tt.wantErr {
				t.Errorf("error %q, want %q", got, tt.wantErr)
			}
		})
	}
}
