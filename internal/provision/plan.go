package provision

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/wwboot/wwboot/internal/bootstrap"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
)

// plan is how one node boots, worked out once per load of the inventory
// (Reload): its image, kernel, kernel arguments, two-stage initramfs and
// iPXE template. The HTTP handlers serve from it, and none of them
// derives node -> image -> kernel itself. Only the kernels inside the
// image are looked up when asked for, and again once checkedTTL has
// passed, because rebuilding an image may change them. Overlay archives
// are the overlay builder's, by node name and kind.
type plan struct {
	node *inventory.NodeView
	// image is the image the node boots: "" when it names none, or a
	// name no image may have. root is its root filesystem, archive the
	// path prefix of its boot archives (image.Images.Archive).
	image, root, archive string
	// kernelVersion is the kernel the node names (a version prefix or a
	// path in the image), "" for the image's default.
	kernelVersion string
	kernelArgs    string
	ipxe          string // the iPXE template's name
	template      *template.Template
	kernels       kernelFinder
}

// kernelFinder finds the kernels inside an image. The caller must not
// modify them.
type kernelFinder interface {
	kernels(img string) ([]image.Kernel, error)
}

// errNoImage is a plan's kernel when the node boots no image.
var errNoImage = errors.New("no image")

// newPlan works out v's plan. templates are the iPXE templates loaded so
// far, by name; load reads one more.
func newPlan(v *inventory.NodeView, images *image.Images, kernels kernelFinder, templates map[string]*template.Template,
	load func(name string) (*template.Template, error)) (*plan, error) {
	p := &plan{node: v, kernelVersion: v.KernelVersion, kernelArgs: strings.Join(v.KernelArgs, " "), ipxe: v.Ipxe, kernels: kernels}
	if naming.Image.Valid(v.Image) {
		p.image, p.root, p.archive = v.Image, images.RootFS(v.Image), images.Archive(v.Image)
	}
	t, ok := templates[p.ipxe]
	if !ok {
		var err error
		if t, err = load(p.ipxe); err != nil {
			return nil, fmt.Errorf("ipxe template %q: %w", p.ipxe, err)
		}
		templates[p.ipxe] = t
	}
	p.template = t
	return p, nil
}

// kernel returns the kernel the node boots: the one its kernel version
// names, else the image's default.
func (p *plan) kernel() (*image.Kernel, error) {
	if p.image == "" {
		return nil, errNoImage
	}
	ks, err := p.kernels.kernels(p.image)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", p.image, err)
	}
	k, err := image.FindKernel(ks, p.kernelVersion)
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", p.image, err)
	}
	return k, nil
}

// ipxeKernelVersion is the kernel version the iPXE script shows: the one
// the node names, else the version of the image's default kernel, else "".
func (p *plan) ipxeKernelVersion() string {
	if p.kernelVersion != "" {
		return p.kernelVersion
	}
	k, err := p.kernel()
	if err != nil {
		return ""
	}
	return k.Version
}

// bootstraps lists the files the image's bootstrap for kernel version
// (wwctl image bootstrap) would be, preferred first: gzip, which every
// kernel unpacks, then zstd. "" images have none.
func (p *plan) bootstraps(version string) []string {
	if p.image == "" {
		return nil
	}
	return []string{bootstrap.OutName(p.archive, version, compress.Gzip), bootstrap.OutName(p.archive, version, compress.Zstd)}
}

// imageKernels finds the kernels of images for the plans of one load,
// in each image at most once per checkedTTL: every kernel and initramfs
// request of a boot storm asks, and an image rebuilt meanwhile shows its
// new kernels within checkedTTL.
type imageKernels struct {
	images *image.Images
	now    func() time.Time
	found  sync.Map // image name -> *checked[kernelList]
}

// kernelList is what image.Kernels found in an image.
type kernelList struct {
	kernels []image.Kernel
	err     error
}

func (k *imageKernels) kernels(img string) ([]image.Kernel, error) {
	if c, ok := k.found.Load(img); ok {
		if c := c.(*checked[kernelList]); k.now().Sub(c.at) < checkedTTL {
			return c.v.kernels, c.v.err
		}
	}
	at := k.now()
	ks, err := image.Kernels(k.images.RootFS(img))
	k.found.Store(img, &checked[kernelList]{kernelList{ks, err}, at})
	return ks, err
}

// buildPlans fills st's nodes, hardware address map, iPXE templates and
// boot plans from the merged nodes of inv. A node with a value that does
// not parse (see inventory.NewView) is left out with a warning: it gets
// no DHCP address of its own and boots as an unknown machine until
// nodes.conf is fixed. A node naming an iPXE template that does not
// exist is an error.
func (s *Server) buildPlans(st *state, inv *inventory.Inventory) error {
	merged := inv.MergeAll()
	st.nodes = make(map[string]*inventory.NodeView, len(merged))
	st.plans = make(map[string]*plan, len(merged))
	st.byMAC = map[string]string{}
	st.ipxe = map[string]*template.Template{}
	kernels := &imageKernels{images: s.o.Images, now: time.Now}
	for _, m := range merged {
		v, err := inventory.NewView(m)
		if err != nil {
			s.log.Warn("node left out of DHCP and boot until nodes.conf is fixed", "node", m.Name, "err", err)
			continue
		}
		p, err := newPlan(v, s.o.Images, kernels, st.ipxe, s.loadTemplate)
		if err != nil {
			return fmt.Errorf("provision: node %q: %w", m.Name, err)
		}
		st.nodes[v.Name] = v
		st.plans[v.Name] = p
		for _, d := range v.NetDevs {
			if d.Hwaddr == "" {
				continue
			}
			if prev, ok := st.byMAC[d.Hwaddr]; ok && prev != v.Name {
				s.log.Warn("hardware address used by two nodes", "hwaddr", d.Hwaddr, "nodes", prev+","+v.Name)
				continue
			}
			st.byMAC[d.Hwaddr] = v.Name
		}
	}
	st.grub = s.loadGrubTemplate()
	if st.grub.err != nil {
		s.log.Error("GRUB template does not load: nodes booting GRUB are told so and restart", "err", st.grub.err)
	}
	for _, name := range []string{"unconfigured", "default"} {
		if _, ok := st.ipxe[name]; !ok {
			t, err := s.loadTemplate(name)
			if err != nil {
				return fmt.Errorf("provision: ipxe template %q: %w", name, err)
			}
			st.ipxe[name] = t
		}
	}
	return nil
}
