package overlay

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/arch"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// Each node's system overlay carries the wwclient of its image's
// architecture; an architecture without one fails that node's build with
// the image, the architecture and the missing file, and so does a node
// naming the copy of another architecture.
func TestEachNodeGetsTheWwclientOfItsImage(t *testing.T) {
	host := arch.Host()
	other := arch.Supported()[0]
	if other == host {
		other = arch.Supported()[1]
	}
	const nodes = `nodeprofiles:
  default:
    system overlay: [t, wwclient]
nodes:
  same: {profiles: [default], image name: same-img}
  other: {profiles: [default], image name: other-img}
  unknown: {profiles: [default], image name: unknown-img}
  wrong: {image name: other-img, system overlay: [t, wwclient.HOST]}
`
	builtin := fstest.MapFS{
		"wwclient/attrs":                    {Data: []byte("warewulf/wwclient 0755\n")},
		"wwclient/rootfs/warewulf/wwclient": {Data: []byte("placeholder")},
	}
	for _, tc := range []struct {
		name    string
		bins    map[string]string // file in bin/ -> content
		want    map[string]string // node -> its warewulf/wwclient, or its error
		wantErr map[string]string
	}{
		{
			name:    "every architecture built",
			bins:    map[string]string{"wwclient": "host agent", "wwclient." + host: "host agent", "wwclient." + other: other + " agent"},
			want:    map[string]string{"same": "host agent", "other": other + " agent", "unknown": "host agent"},
			wantErr: map[string]string{"wrong": "overlay wwclient." + host + " carries the " + host + ` wwclient, but image "other-img" is ` + other},
		},
		{
			name: "no agent for the other architecture",
			bins: map[string]string{"wwclient": "host agent", "wwclient." + host: "host agent"},
			want: map[string]string{"same": "host agent", "unknown": "host agent"},
			wantErr: map[string]string{
				"other": `image "other-img" is ` + other + ": no wwclient." + other + " binary for the wwclient." + other +
					" overlay: build it (make build writes bin/wwclient." + other + ")",
				"wrong": "carries the " + host + " wwclient",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sitetest.New(t, "")
			sitetest.Write(t, filepath.Join(in.Config.Paths.Wwoverlaydir, "t/rootfs/etc/static"), "x\n")
			bin := filepath.Join(in.Root, "bin")
			for name, content := range tc.bins {
				sitetest.Write(t, filepath.Join(bin, name), content)
			}
			exe := filepath.Join(bin, "wwctl")
			store := &Store{Site: in.Config.Paths.Wwoverlaydir,
				Builtin: WithWwclientArchs(WithWwclient(builtin, []string{filepath.Join(bin, "wwclient")}), exe)}
			inv, err := inventory.Parse([]byte(strings.ReplaceAll(nodes, "HOST", host)), "nodes.conf")
			if err != nil {
				t.Fatal(err)
			}
			epoch := time.Unix(0, 0)
			archs := map[string]string{"same-img": host, "other-img": other}
			snap, err := NewSnapshot(in.Config, inv, store, RenderOptions{Epoch: &epoch, Location: time.UTC,
				ImageArch: func(image string) string { return archs[image] }})
			if err != nil {
				t.Fatal(err)
			}
			b := &Builder{Dir: filepath.Join(in.Config.Paths.Wwprovisiondir, "overlays"), Workers: 2, NoSync: true}
			res, err := b.Build(context.Background(), snap, nil, []ImageKind{System}, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, gotErr := map[string]string{}, map[string]string{}
			for _, r := range res {
				if r.Err != nil {
					gotErr[r.Node] = r.Err.Error()
					continue
				}
				a, err := b.Artifact(context.Background(), snap, r.Node, System, compress.None, false)
				if err != nil {
					t.Fatal(err)
				}
				got[r.Node] = unpack(t, a)["warewulf/wwclient"]
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("wwclient per node (-want +got):\n%s", diff)
			}
			for node, want := range tc.wantErr {
				if !strings.Contains(gotErr[node], want) {
					t.Errorf("node %s: error %q, want one with %q", node, gotErr[node], want)
				}
			}
			for node := range gotErr {
				if _, ok := tc.wantErr[node]; !ok {
					t.Errorf("node %s: unexpected error %s", node, gotErr[node])
				}
			}
		})
	}
}
