package overlay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
)

// Snapshot is what one build reads, read once: the configuration, every
// merged node and the overlays they use. Renderers made from it share it.
type Snapshot struct {
	store *Store
	opts  RenderOptions
	base  Data
	nodes *nodeSet

	cfgDigest string

	// memo holds the renderings of templates that are the same for
	// every node.
	memo sync.Map
	// inputs memoizes inputsDigest: kind, node and overlays -> digest.
	inputs sync.Map
	// archs memoizes RenderOptions.ImageArch: image -> architecture.
	archs sync.Map

	// servedChecks are Archives' checks of images in this snapshot.
	servedOnce   sync.Once
	servedChecks *servedChecks

	groupsOnce sync.Once
	groups     map[string]int // overlay group -> nodes in it

	mu       sync.Mutex
	overlays map[string]*Overlay
	// allReaders are the overlays of which a template names AllNodes.
	allReaders map[string]bool
	digests    map[string]string // node name -> digest of its template data
	allNodes   string            // digest of every node's data
}

// NewSnapshot reads the inventory's merged nodes and prepares the data
// every template sees.
func NewSnapshot(cfg *config.Config, inv *inventory.Inventory, store *Store, opts RenderOptions) (*Snapshot, error) {
	if opts.Sysconfdir == "" {
		opts.Sysconfdir = cfg.Paths.Sysconfdir
	}
	if opts.Chrootdir == "" {
		opts.Chrootdir = cfg.Paths.Wwchrootdir
	}
	if opts.Distdir == "" {
		opts.Distdir = store.Dist
	}
	conf, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(conf)
	base := configView(cfg)
	base.BuildHost = opts.BuildHost
	s := &Snapshot{store: store, opts: opts, base: base, nodes: newNodeSet(inv.MergeAll()),
		cfgDigest: hex.EncodeToString(sum[:]), overlays: map[string]*Overlay{}, allReaders: map[string]bool{}}
	return s, nil
}

// RenderTarget returns the node named name to render templates for, or,
// when no node has that name, nil and the server's host name: as in
// Warewulf, a template rendered for a name that is not a node ("wwctl
// overlay show --render host") is rendered for the server itself, whose
// Id and ClusterName are its host name.
func (s *Snapshot) RenderTarget(name string) (*Node, string) {
	if n := s.Node(name); n != nil {
		return n, name
	}
	if s.opts.BuildHost != "" {
		return nil, s.opts.BuildHost
	}
	return nil, name
}

// Node returns the named node, or nil.
func (s *Snapshot) Node(name string) *Node { return s.nodes.lookup(name) }

// NodeNames returns every node's name in natural order.
func (s *Snapshot) NodeNames() []string {
	names := make([]string, 0, len(s.nodes.all))
	for i := range s.nodes.all {
		names = append(names, s.nodes.all[i].id)
	}
	sort.Slice(names, func(i, j int) bool { return inventory.NaturalLess(names[i], names[j]) })
	return names
}

// Overlay reads an overlay once per snapshot.
func (s *Snapshot) Overlay(name string) (*Overlay, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.overlays[name]; ok {
		return o, nil
	}
	o, err := s.store.Get(name)
	if err != nil {
		return nil, err
	}
	s.overlays[name] = o
	for _, f := range o.Files {
		if f.Template() && bytes.Contains(f.Data, []byte("AllNodes")) {
			s.allReaders[name] = true
		}
	}
	return o, nil
}

// Renderer returns a renderer for one worker that has the named overlays
// loaded.
func (s *Snapshot) Renderer(names ...string) (*Renderer, error) {
	m := map[string]*Overlay{}
	for _, n := range names {
		o, err := s.Overlay(n)
		if err != nil {
			return nil, err
		}
		m[n] = o
	}
	return newRenderer(m, s.base, s.nodes, s.opts, &s.memo), nil
}

// spread calls do for 0..n-1 on up to workers goroutines, at most one
// for every 64 items (a short list stays on one: starting goroutines
// would cost what they save), and waits.
func spread(workers, n int, do func(i int)) {
	workers = max(1, min(workers, n/64+1))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				do(i)
			}
		})
	}
	wg.Wait()
}

// nodeDigest identifies a node's template data. The first call works
// out every node's, on all CPUs (a build's workers wait for it).
func (s *Snapshot) nodeDigest(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.digests == nil {
		all := s.nodes.all
		sums := make([]string, len(all))
		spread(runtime.GOMAXPROCS(0), len(all), func(i int) {
			n := &all[i]
			b, _ := json.Marshal(struct {
				Id string
				*Node
				Primary string
			}{n.id, n, n.PrimaryNetDev})
			sum := sha256.Sum256(b)
			sums[i] = hex.EncodeToString(sum[:])
		})
		s.digests = make(map[string]string, len(all))
		h := sha256.New()
		for i, d := range sums {
			s.digests[all[i].id] = d
			h.Write([]byte(d))
		}
		s.allNodes = hex.EncodeToString(h.Sum(nil))
	}
	return s.digests[name]
}

// inputsDigest identifies everything a node's rendering of the listed
// overlays depends on, except the files its templates read (the build
// adds those from its last record). Nodes' data matter to every node
// only when one of the templates names AllNodes.
func (s *Snapshot) inputsDigest(kind, node string, names []string) (string, error) {
	key := kind + "\x00" + node + "\x00" + strings.Join(names, "\x00")
	if d, ok := s.inputs.Load(key); ok {
		return d.(string), nil
	}
	d, err := s.computeInputsDigest(kind, node, names)
	if err == nil {
		s.inputs.Store(key, d)
	}
	return d, err
}

func (s *Snapshot) computeInputsDigest(kind, node string, names []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "v1\x00%s\x00%s\x00%s\x00%s\x00", kind, node, s.cfgDigest, s.nodeDigest(node))
	if s.opts.Epoch != nil {
		fmt.Fprintf(h, "epoch %d\x00", s.opts.Epoch.Unix())
	}
	fmt.Fprintf(h, "builtin %d\x00", s.opts.Builtin.Unix())
	usesAll := false
	for _, n := range names {
		o, err := s.Overlay(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%s\x00", n, o.Digest)
		s.mu.Lock()
		usesAll = usesAll || s.allReaders[n]
		s.mu.Unlock()
	}
	if usesAll {
		s.nodeDigest(node)
		s.mu.Lock()
		fmt.Fprintf(h, "all %s\x00", s.allNodes)
		s.mu.Unlock()
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// groupSizes counts the nodes of each overlay group (kind and overlay
// list) in the whole inventory, once per snapshot.
func (s *Snapshot) groupSizes() map[string]int {
	s.groupsOnce.Do(func() {
		s.groups = map[string]int{}
		for i := range s.nodes.all {
			n := &s.nodes.all[i]
			for _, k := range []ImageKind{System, Runtime} {
				list, err := s.overlayList(k, n)
				if err != nil {
					list = k.overlays(n)
				}
				s.groups[groupKey(k, list)]++
			}
		}
	})
	return s.groups
}
