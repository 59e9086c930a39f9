package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
)

const priv = "10.0.0.1:987" // a privileged source port

func TestRoutes(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	f.arp["10.0.0.9"] = "aa:bb:cc:dd:ee:01"
	s := f.server(t)
	h := s.Handler()
	tests := []struct {
		name   string
		target string
		remote string
		code   int
		body   string   // exact body, when set
		has    []string // substrings of the body
	}{
		{name: "kernel", target: "/kernel/aa:bb:cc:dd:ee:01", code: 200, body: kernelBytes},
		{name: "kernel legacy", target: "/provision/aa:bb:cc:dd:ee:01?stage=kernel", code: 200, body: kernelBytes},
		{name: "image gz", target: "/image/aa:bb:cc:dd:ee:01?compress=gz", code: 200, body: imageGzip},
		{name: "image gzip", target: "/image/aa:bb:cc:dd:ee:01?compress=gzip", code: 200, body: imageGzip},
		{name: "image none", target: "/image/aa:bb:cc:dd:ee:01", code: 200, body: imageBytes},
		{name: "image zstd missing", target: "/image/aa:bb:cc:dd:ee:01?compress=zstd", code: 404},
		{name: "image bad compress", target: "/image/aa:bb:cc:dd:ee:01?compress=bz2", code: 400},
		{name: "container alias", target: "/container/aa:bb:cc:dd:ee:01?compress=gz", code: 200, body: imageGzip},
		{name: "image legacy", target: "/provision/aa:bb:cc:dd:ee:01?stage=image&compress=gz", code: 200, body: imageGzip},
		{name: "image only compressed", target: "/image/aa:bb:cc:dd:ee:03", code: 404, has: []string{"only compressed"}},
		{name: "image only compressed gz", target: "/image/aa:bb:cc:dd:ee:03?compress=gz", code: 200, body: imageGzip},
		{name: "wwid param", target: "/kernel/?wwid=aa:bb:cc:dd:ee:01", code: 200, body: kernelBytes},
		{name: "wwid from arp", target: "/kernel/", remote: "10.0.0.9:1000", code: 200, body: kernelBytes},
		{name: "no wwid no arp", target: "/kernel/", remote: "10.0.0.8:1000", code: 400},
		{name: "double slash", target: "//kernel//aa:bb:cc:dd:ee:01", code: 200, body: kernelBytes},
		{name: "mac upper hyphen", target: "/kernel/AA-BB-CC-DD-EE-01", code: 200, body: kernelBytes},
		{name: "mac dotted", target: "/kernel/aabb.ccdd.ee01", code: 200, body: kernelBytes},
		{name: "mac bare", target: "/kernel/AABBCCDDEE01", code: 200, body: kernelBytes},
		{name: "bad mac", target: "/kernel/not-a-mac", code: 400},
		{name: "unknown mac kernel", target: "/kernel/aa:bb:cc:dd:ee:99", code: 404},
		{name: "unknown mac ipxe", target: "/ipxe/aa:bb:cc:dd:ee:99", code: 200, has: []string{"not known", "aa:bb:cc:dd:ee:99", "reboot"}},
		{name: "asset key missing", target: "/kernel/aa:bb:cc:dd:ee:02", code: 401},
		{name: "asset key wrong", target: "/ipxe/aa:bb:cc:dd:ee:02?assetkey=nope", code: 401},
		{name: "asset key right", target: "/kernel/aa:bb:cc:dd:ee:02?assetkey=secret&uuid=u-1", code: 200, body: kernelBytes},
		{name: "ipxe default", target: "/ipxe/aa-bb-cc-dd-ee-01?assetkey=&uuid=x", code: 200, has: []string{
			"#!ipxe", "set base http://10.0.0.254:9873", "goto initrd ||",
			"kernel --name kernel ${base}/kernel/${mac}?",
			"initrd --name image ${base}/image/${mac}?${args}&compress=gz",
			"initrd --name system ${base}/system/", "initrd --name runtime ${base}/runtime/",
			"set rt initrd=runtime", "boot kernel initrd=image initrd=system ${rt} wwid=${mac} quiet crashkernel=no",
			":reboot", "Image:          rocky"}},
		{name: "ipxe legacy no stage", target: "/provision/aa:bb:cc:dd:ee:01", code: 200, has: []string{"#!ipxe", "goto initrd"}},
		{name: "ipxe nocompress tag", target: "/ipxe/aa:bb:cc:dd:ee:04", code: 200, has: []string{"goto initrd_nocompress", ":initrd_nocompress", "initrd --name image ${base}/image/${mac}?${args} ||"}},
		{name: "ipxe node template", target: "/ipxe/aa:bb:cc:dd:ee:05", code: 200, has: []string{"sanboot"}},
		{name: "system", target: "/system/aa:bb:cc:dd:ee:01?compress=gz", code: 200},
		{name: "overlay-system alias", target: "/overlay-system/aa:bb:cc:dd:ee:01", code: 200},
		{name: "runtime", target: "/runtime/aa:bb:cc:dd:ee:01?compress=zstd", code: 200},
		{name: "overlay-runtime alias", target: "/overlay-runtime/aa:bb:cc:dd:ee:01", code: 200},
		{name: "legacy system", target: "/provision/aa:bb:cc:dd:ee:01?stage=system", code: 200},
		{name: "legacy bad stage", target: "/provision/aa:bb:cc:dd:ee:01?stage=nope", code: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote := tt.remote
			if remote == "" {
				remote = priv
			}
			w := get(h, tt.target, remote, nil)
			if w.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if tt.body != "" && w.Body.String() != tt.body {
				t.Errorf("body %q, want %q", w.Body, tt.body)
			}
			if miss := contains(w.Body.String(), tt.has...); miss != "" {
				t.Errorf("body lacks %q:\n%s", miss, w.Body)
			}
		})
	}
}

func TestRuntimeSecurePort(t *testing.T) {
	f := newFixture(t, fixtureNodes, true)
	h := f.server(t).Handler()
	tests := []struct {
		name, target, remote string
		code                 int
	}{
		{"runtime unprivileged", "/runtime/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", 401},
		{"runtime alias unprivileged", "/overlay-runtime/aa:bb:cc:dd:ee:01", "10.0.0.1:1024", 401},
		{"runtime privileged", "/runtime/aa:bb:cc:dd:ee:01", "10.0.0.1:1023", 200},
		{"system unprivileged", "/system/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if w := get(h, tt.target, tt.remote, nil); w.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", w.Code, tt.code, w.Body)
			}
		})
	}
}

func TestOverlayBodyIsConcatenatedParts(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	s := f.server(t)
	h := s.Handler()
	// Built together, nodes using the same overlays share an archive.
	snap := s.state.Load().snap
	if _, err := f.opts.Builder.Build(context.Background(), snap, snap.NodeNames(),
		[]overlay.ImageKind{overlay.System, overlay.Runtime}, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []overlay.ImageKind{overlay.System, overlay.Runtime} {
		for _, c := range []string{"", "gz", "zstd"} {
			t.Run(string(kind)+"/"+c, func(t *testing.T) {
				w := get(h, "/"+string(kind)+"/aa:bb:cc:dd:ee:01?compress="+c, priv, nil)
				if w.Code != 200 {
					t.Fatalf("code %d: %s", w.Code, w.Body)
				}
				format, _ := compress.ParseFormat(c)
				a, err := f.opts.Builder.Artifact(context.Background(), s.state.Load().snap, "n1", kind, format, false)
				if err != nil {
					t.Fatal(err)
				}
				var want []byte
				for _, p := range a.Parts {
					data, err := p.Read()
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, data...)
				}
				if kind == overlay.System && len(a.Parts) < 2 {
					t.Errorf("system overlay has %d parts, want a shared and an own one", len(a.Parts))
				}
				if !bytes.Equal(w.Body.Bytes(), want) {
					t.Errorf("body is %d bytes, want the %d bytes of the parts", w.Body.Len(), len(want))
				}
				if got := w.Header().Get("ETag"); got != `"`+a.ETag+`"` {
					t.Errorf("ETag %q, want %q", got, a.ETag)
				}
				// A range across the parts.
				if len(a.Parts) >= 2 {
					from, to := a.Parts[0].Size-3, a.Parts[0].Size+3
					w := get(h, "/"+string(kind)+"/aa:bb:cc:dd:ee:01?compress="+c, priv,
						http.Header{"Range": {fmt.Sprintf("bytes=%d-%d", from, to)}})
					if w.Code != 206 || !bytes.Equal(w.Body.Bytes(), want[from:to+1]) {
						t.Errorf("range across parts: code %d body %q, want %q", w.Code, w.Body, want[from:to+1])
					}
				}
			})
		}
	}
}

func TestRangeAndETag(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	h := f.server(t).Handler()
	imgTag := func() string {
		data, _ := os.ReadFile(f.opts.Images.Archive("rocky") + ".img.gz.sha256")
		return `"` + strings.Fields(string(data))[0] + `"`
	}()
	w := get(h, "/image/aa:bb:cc:dd:ee:01?compress=gz", priv, nil)
	if got := w.Header().Get("ETag"); got != imgTag {
		t.Fatalf("image ETag %q, want %q", got, imgTag)
	}
	if got := w.Header().Get("Content-Length"); got != fmt.Sprint(len(imageGzip)) {
		t.Errorf("Content-Length %s, want %d", got, len(imageGzip))
	}
	kw := get(h, "/kernel/aa:bb:cc:dd:ee:01", priv, nil)
	kTag := kw.Header().Get("ETag")
	if kTag == "" {
		t.Fatal("no kernel ETag")
	}
	tests := []struct {
		name   string
		target string
		header http.Header
		code   int
		body   string
	}{
		{"range image", "/image/aa:bb:cc:dd:ee:01?compress=gz", http.Header{"Range": {"bytes=2-7"}}, 206, imageGzip[2:8]},
		{"range suffix", "/image/aa:bb:cc:dd:ee:01", http.Header{"Range": {"bytes=-5"}}, 206, imageBytes[len(imageBytes)-5:]},
		{"range kernel", "/kernel/aa:bb:cc:dd:ee:01", http.Header{"Range": {"bytes=5-"}}, 206, kernelBytes[5:]},
		{"range unsatisfiable", "/image/aa:bb:cc:dd:ee:01", http.Header{"Range": {"bytes=9999-"}}, 416, ""},
		{"if-none-match image", "/image/aa:bb:cc:dd:ee:01?compress=gz", http.Header{"If-None-Match": {imgTag}}, 304, ""},
		{"if-none-match other", "/image/aa:bb:cc:dd:ee:01?compress=gz", http.Header{"If-None-Match": {`"other"`}}, 200, imageGzip},
		{"if-none-match kernel", "/kernel/aa:bb:cc:dd:ee:01", http.Header{"If-None-Match": {kTag}}, 304, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(h, tt.target, priv, tt.header)
			if w.Code != tt.code {
				t.Fatalf("code %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if tt.body != "" && w.Body.String() != tt.body {
				t.Errorf("body %q, want %q", w.Body, tt.body)
			}
		})
	}
	// An overlay ETag answers 304 too.
	ow := get(h, "/system/aa:bb:cc:dd:ee:01?compress=gz", priv, nil)
	if w := get(h, "/system/aa:bb:cc:dd:ee:01?compress=gz", priv, http.Header{"If-None-Match": {ow.Header().Get("ETag")}}); w.Code != 304 {
		t.Errorf("overlay If-None-Match: code %d, want 304", w.Code)
	}
}

func TestStatusRecordedAndPersisted(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	s := f.server(t)
	h := s.Handler()
	get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:1000", nil)
	get(h, "/image/aa:bb:cc:dd:ee:01?compress=gz", "10.0.0.1:1000", nil)
	get(h, "/kernel/aa:bb:cc:dd:ee:02?assetkey=bad", "10.0.0.2:1000", nil)
	get(h, "/runtime/aa:bb:cc:dd:ee:04?compress=gz", "10.0.0.4:1000", nil)
	get(h, "/kernel/aa:bb:cc:dd:ee:03?compress=zstd", "10.0.0.3:1000", nil)
	at := f.clock
	want := map[string]contract.NodeStatus{
		"n1": {Node: "n1", Stage: "IMAGE", Sent: "rocky.img.gz", Addr: "10.0.0.1", Bytes: int64(len(imageGzip)), LastSeen: at},
		"n2": {Node: "n2", Stage: "KERNEL", Sent: "BAD_ASSET", Addr: "10.0.0.2", LastSeen: at},
		"n3": {Node: "n3", Stage: "KERNEL", Sent: "NOT_FOUND", Addr: "10.0.0.3", LastSeen: at},
		"n5": {Node: "n5"}, // never asked: listed, empty
	}
	got := s.Status()
	rt := got["n4"]
	delete(got, "n4")
	if rt.Stage != "RUNTIME_OVERLAY" || rt.Sent != "__RUNTIME__.img.gz" || rt.Bytes == 0 {
		t.Errorf("n4 status %+v", rt)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("status (-want +got):\n%s", d)
	}
	w := get(h, "/status", "", nil)
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%v: %s", err, w.Body)
	}
	n1 := doc["nodes"]["n1"]
	for _, k := range []string{"node name", "stage", "sent", "ipaddr", "last seen", "bytes"} {
		if _, ok := n1[k]; !ok {
			t.Errorf("/status lacks %q: %s", k, w.Body)
		}
	}
	if n1["last seen"] != float64(at.Unix()) {
		t.Errorf("last seen %v, want %d", n1["last seen"], at.Unix())
	}
	if err := s.FlushStatus(true); err != nil {
		t.Fatal(err)
	}
	s2 := f.server(t)
	got2 := s2.Status()
	got2["n4"] = rt
	want["n4"] = rt
	if d := cmp.Diff(want, got2); d != "" {
		t.Errorf("status after restart (-want +got):\n%s", d)
	}
}

func TestUnknownIpxeTemplate(t *testing.T) {
	nodes := fixtureNodes + "  n9:\n    ipxe template: nosuch\n"
	f := newFixture(t, nodes, false)
	_, err := New(f.opts)
	if err == nil || !strings.Contains(err.Error(), `"n9"`) || !strings.Contains(err.Error(), `"nosuch"`) {
		t.Fatalf("New: %v, want an error naming n9 and nosuch", err)
	}
	// A site template of that name makes it valid, and is served.
	f.opts.Templates = os.DirFS(filepath.Join(f.root, "etc/warewulf/ipxe"))
	sitetest.Write(t, filepath.Join(f.root, "etc/warewulf/ipxe/nosuch.ipxe"), "#!ipxe\necho site {{.Id}} {{.Hwaddr}}\n")
	s := f.server(t)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	// Reload fails, and keeps the old state, when a template disappears.
	sitetest.Write(t, f.opts.Nodes.Path(), nodes+"  n10:\n    ipxe template: gone\n")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), `"gone"`) {
		t.Fatalf("Reload: %v", err)
	}
	if w := get(s.Handler(), "/ipxe/aa:bb:cc:dd:ee:01", priv, nil); w.Code != 200 {
		t.Errorf("after failed reload: %d", w.Code)
	}
}

func TestDiscoveryConcurrent(t *testing.T) {
	var b strings.Builder
	b.WriteString("nodeprofiles:\n  default:\n    image name: rocky\n    system overlay: [sys]\n    runtime overlay: [rt]\nnodes:\n")
	// Two clusters: c1 nodes come first, in natural order.
	for i := 1; i <= 10; i++ {
		cluster := "c2"
		if i%2 == 0 {
			cluster = "c1"
		}
		fmt.Fprintf(&b, "  d%d:\n    profiles: [default]\n    cluster name: %s\n    discoverable: true\n", i, cluster)
		if i == 3 {
			b.WriteString("    primary network: eth\n    network devices:\n      lan: {ipaddr: 10.0.1.3}\n      eth: {ipaddr: 10.0.2.3}\n")
		}
	}
	f := newFixture(t, b.String(), false)
	s := f.server(t)
	h := s.Handler()

	// One discovery first, to check the order.
	w := get(h, "/ipxe/02:00:00:00:00:00", priv, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "rocky") {
		t.Fatalf("first discovery: %d %s", w.Code, w.Body)
	}
	if got := s.state.Load().byMAC["02:00:00:00:00:00"]; got != "d2" {
		t.Fatalf("first discovered node %q, want d2 (cluster c1, lowest name)", got)
	}

	var wg sync.WaitGroup
	codes := make([]int, 9)
	for i := range 9 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = get(h, fmt.Sprintf("/ipxe/02:00:00:00:00:%02x", i+1), priv, nil).Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d: code %d", i, c)
		}
	}
	inv, err := inventory.NewStore(f.cfg.NodesConf()).Load()
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, m := range inv.MergeAll() {
		var macs []string
		for _, d := range m.NetDevs {
			if d.Hwaddr != nil {
				macs = append(macs, *d.Hwaddr)
			}
		}
		if len(macs) != 1 {
			t.Errorf("node %s has hwaddrs %v, want one", m.Name, macs)
			continue
		}
		if prev, ok := owner[macs[0]]; ok {
			t.Errorf("%s given to %s and %s", macs[0], prev, m.Name)
		}
		owner[macs[0]] = m.Name
		if v, err := inventory.NewView(m); err != nil || v.Discoverable {
			t.Errorf("node %s still discoverable (%v)", m.Name, err)
		}
	}
	if len(owner) != 10 {
		t.Errorf("nodes.conf holds %d hwaddrs, want 10", len(owner))
	}
	d3 := inv.Nodes["d3"].NetDevs
	if d3["eth"].Hwaddr == nil || d3["lan"].Hwaddr != nil {
		t.Errorf("d3: hwaddr not written to its primary network eth")
	}
	// An 11th unknown address finds no node left.
	w = get(h, "/ipxe/02:00:00:00:00:ff", priv, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "not known") {
		t.Errorf("11th: %d %s", w.Code, w.Body)
	}
}

func TestIpxeNamesTheDefaultKernel(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	w := get(f.server(t).Handler(), "/ipxe/aa:bb:cc:dd:ee:01", "", nil)
	if !strings.Contains(w.Body.String(), "6.1.0-1-amd64") {
		t.Errorf("script does not name the image's default kernel:\n%s", w.Body.String())
	}
}
