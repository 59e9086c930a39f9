package provision

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"
)

// planSummary is what a test compares of a plan.
type planSummary struct {
	Image, Root, Archive, KernelVersion, KernelArgs, Ipxe, Kernel string
}

func summarize(t *testing.T, p *plan) planSummary {
	t.Helper()
	sum := planSummary{Image: p.image, Root: p.root, Archive: p.archive, KernelVersion: p.kernelVersion,
		KernelArgs: p.kernelArgs, Ipxe: p.ipxe}
	if k, err := p.kernel(); err == nil {
		sum.Kernel = k.Path
	} else {
		sum.Kernel = "error: " + err.Error()
	}
	if p.template == nil {
		t.Errorf("plan of %s has no iPXE template", p.node.Name)
	}
	return sum
}

// A node whose profile changes its image gets the new plan after Reload,
// and the handlers serve from it.
func TestPlanFollowsReload(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	s := f.server(t)
	images := f.opts.Images
	want := planSummary{Image: "rocky", Root: images.RootFS("rocky"), Archive: images.Archive("rocky"),
		KernelArgs: "quiet crashkernel=no", Ipxe: "default", Kernel: "/boot/vmlinuz-6.1.0-1-amd64"}
	if diff := cmp.Diff(want, summarize(t, s.state.Load().plans["n1"])); diff != "" {
		t.Fatalf("plan of n1 (-want +got):\n%s", diff)
	}
	if got := s.state.Load().plans["n5"].ipxe; got != "localdisk" {
		t.Errorf("plan of n5: iPXE template %q, want localdisk", got)
	}

	changed := strings.Replace(fixtureNodes, "    image name: rocky\n", "    image name: gzonly\n", 1)
	changed = strings.Replace(changed, "      args: [quiet, crashkernel=no]\n", "      version: \"6.1\"\n      args: [quiet]\n", 1)
	sitetest.Write(t, f.cfg.NodesConf(), changed)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	want = planSummary{Image: "gzonly", Root: images.RootFS("gzonly"), Archive: images.Archive("gzonly"),
		KernelVersion: "6.1", KernelArgs: "quiet", Ipxe: "default", Kernel: "/boot/vmlinuz-6.1.0-1-amd64"}
	if diff := cmp.Diff(want, summarize(t, s.state.Load().plans["n1"])); diff != "" {
		t.Errorf("plan of n1 after the reload (-want +got):\n%s", diff)
	}
	h := s.Handler()
	if w := get(h, "/image/aa:bb:cc:dd:ee:01", "10.0.0.1:1000", nil); w.Code != 404 || !strings.Contains(w.Body.String(), `image "gzonly" is built only compressed`) {
		t.Errorf("uncompressed image of n1 after the reload: %d %s", w.Code, w.Body)
	}
	w := get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:1000", nil)
	if miss := contains(w.Body.String(), "gzonly", "quiet"); w.Code != 200 || miss != "" {
		t.Errorf("iPXE script of n1 after the reload lacks %q: %d %s", miss, w.Code, w.Body)
	}
}

// A node with a value that does not parse gets no plan: it boots as an
// unknown machine, and the others boot.
func TestPlanLeavesOutMalformedNode(t *testing.T) {
	nodes := fixtureNodes + `  n6:
    profiles: [default]
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:06", ipaddr: 10.0.0.600}
`
	f := newFixture(t, nodes, false)
	s := f.server(t)
	st := s.state.Load()
	if _, ok := st.plans["n6"]; ok {
		t.Error("n6 has a plan")
	}
	if _, ok := s.NodeByMAC("aa:bb:cc:dd:ee:06"); ok {
		t.Error("DHCP finds n6")
	}
	if _, ok := s.Nodes()["n6"]; ok {
		t.Error("Nodes holds n6")
	}
	h := s.Handler()
	if w := get(h, "/ipxe/aa:bb:cc:dd:ee:06", "10.0.0.6:1000", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "not known") {
		t.Errorf("iPXE of n6: %d %s, want the unconfigured script", w.Code, w.Body)
	}
	if w := get(h, "/kernel/aa:bb:cc:dd:ee:01", "10.0.0.1:1000", nil); w.Code != 200 || w.Body.String() != kernelBytes {
		t.Errorf("kernel of n1: %d %s", w.Code, w.Body)
	}
}

// The kernels inside an image are looked up again once checkedTTL has
// passed, so a rebuilt image's new kernel is served without a reload.
func TestPlanKernelRefresh(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	now := time.Unix(1_700_000_000, 0)
	p := &plan{image: "gzonly", kernelVersion: "6",
		kernels: &imageKernels{images: f.opts.Images, now: func() time.Time { return now }}}
	path := func() string {
		k, err := p.kernel()
		if err != nil {
			t.Fatal(err)
		}
		return k.Path
	}
	if got := path(); got != "/boot/vmlinuz-6.1.0-1-amd64" {
		t.Fatalf("kernel %s, want 6.1.0-1", got)
	}
	sitetest.Write(t, filepath.Join(f.opts.Images.RootFS("gzonly"), "boot/vmlinuz-6.2.0-1-amd64"), kernelBytes)
	now = now.Add(checkedTTL - time.Second)
	if got := path(); got != "/boot/vmlinuz-6.1.0-1-amd64" {
		t.Errorf("within checkedTTL: kernel %s, want the one found first", got)
	}
	now = now.Add(2 * time.Second)
	if got := path(); got != "/boot/vmlinuz-6.2.0-1-amd64" {
		t.Errorf("after checkedTTL: kernel %s, want the new 6.2.0-1", got)
	}
	p.image = ""
	if _, err := p.kernel(); err != errNoImage {
		t.Errorf("kernel of a plan without an image: %v, want errNoImage", err)
	}
}
