package overlay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/cpio"
	"github.com/wwboot/wwboot/internal/inventory"
)

const buildNodes = `nodeprofiles:
  default:
    system overlay: [t]
    runtime overlay: [r]
nodes:
  n1: {profiles: [default], network devices: {default: {ipaddr: 10.0.0.1}}}
  n2: {profiles: [default], network devices: {default: {ipaddr: 10.0.0.2}}}
  n3: {profiles: [default], network devices: {default: {ipaddr: 10.0.0.3}}}
`

type buildFixture struct {
	root    string
	cfg     *config.Config
	builder *Builder
	nodes   string
}

func newBuildFixture(t *testing.T) *buildFixture {
	t.Helper()
	in := sitetest.New(t, "")
	root, cfg := in.Root, in.Config
	f := &buildFixture{root: root, cfg: cfg, nodes: buildNodes,
		builder: &Builder{Dir: filepath.Join(cfg.Paths.Wwprovisiondir, "overlays"), Workers: 2, NoSync: true}}
	f.write(t, "t/rootfs/etc/static", "same everywhere\n")
	f.write(t, "t/rootfs/etc/hosts.ww", "{{range .AllNodes}}{{.NetDevs.default.Ipaddr}} {{.Id}}\n{{end}}")
	f.write(t, "t/rootfs/etc/hostname.ww", "{{.Id}}\n")
	f.write(t, "t/rootfs/etc/key.ww", "{{Include \"key\"}}\n")
	f.write(t, "r/rootfs/etc/motd.ww", "welcome to {{.Id}}\n")
	sitetest.Write(t, filepath.Join(root, "etc/warewulf/key"), "K1")
	return f
}

func (f *buildFixture) write(t *testing.T, rel, content string) {
	t.Helper()
	sitetest.Write(t, filepath.Join(f.cfg.Paths.Wwoverlaydir, rel), content)
}

func (f *buildFixture) snapshot(t *testing.T) *Snapshot {
	t.Helper()
	inv, err := inventory.Parse([]byte(f.nodes), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	epoch := time.Unix(0, 0)
	s, err := NewSnapshot(f.cfg, inv, &Store{Site: f.cfg.Paths.Wwoverlaydir}, RenderOptions{Epoch: &epoch, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// build builds everything and returns "node/kind status" lines.
func (f *buildFixture) build(t *testing.T) []string {
	t.Helper()
	return f.buildForced(t, false)
}

// buildForced is build, forced when force is set.
func (f *buildFixture) buildForced(t *testing.T, force bool) []string {
	t.Helper()
	res, err := f.builder.Build(context.Background(), f.snapshot(t), nil, []ImageKind{System, Runtime}, force, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res {
		line := fmt.Sprintf("%s/%s %s", r.Node, r.Kind, r.Status)
		if r.Err != nil {
			line += ": " + r.Err.Error()
		}
		out = append(out, line)
	}
	return out
}

func statuses(built ...string) []string {
	var out []string
	for _, n := range []string{"n1", "n2", "n3"} {
		for _, k := range []string{"system", "runtime"} {
			st := "unchanged"
			for _, b := range built {
				if b == n+"/"+k {
					st = "built"
				}
			}
			out = append(out, n+"/"+k+" "+st)
		}
	}
	return out
}

func TestIncrementalBuild(t *testing.T) {
	f := newBuildFixture(t)
	all := []string{"n1/system", "n1/runtime", "n2/system", "n2/runtime", "n3/system", "n3/runtime"}
	steps := []struct {
		name   string
		change func()
		built  []string
	}{
		{name: "first build builds everything", change: func() {}, built: all},
		{name: "nothing changed", change: func() {}},
		{name: "a template whose output changes for one node", change: func() {
			f.write(t, "t/rootfs/etc/hostname.ww", "{{.Id}}{{if eq .Id \"n2\"}} (spare){{end}}\n")
		}, built: []string{"n2/system"}},
		{name: "a template edit that changes no output", change: func() {
			f.write(t, "t/rootfs/etc/hostname.ww", "{{- .Id}}{{if eq .Id \"n2\"}} (spare){{end}}\n")
		}},
		{name: "an included file changes for every node", change: func() {
			sitetest.Write(t, filepath.Join(f.root, "etc/warewulf/key"), "K2")
		}, built: []string{"n1/system", "n2/system", "n3/system"}},
		{name: "a node's address changes everyone's hosts file", change: func() {
			f.nodes = strings.Replace(f.nodes, "10.0.0.3", "10.0.0.33", 1)
		}, built: []string{"n1/system", "n2/system", "n3/system"}},
		{name: "the runtime overlay only", change: func() {
			f.write(t, "r/rootfs/etc/motd.ww", "hello {{.Id}}\n")
		}, built: []string{"n1/runtime", "n2/runtime", "n3/runtime"}},
	}
	for _, step := range steps {
		step.change()
		if diff := cmp.Diff(statuses(step.built...), f.build(t)); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", step.name, diff)
		}
	}
}

// A rebuild whose inputs changed for every node but whose output changed
// for one archives and compresses that one's image only: the others are
// taken from their packs, with their new inputs recorded (the next build
// has nothing to do) and their bytes served as before. A forced build
// makes them all anew.
func TestRebuildTakesTheSameOutputFromThePack(t *testing.T) {
	f := newBuildFixture(t)
	var log bytes.Buffer
	f.builder.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	counts := regexp.MustCompile(`msg="overlay images rendered" nodes=(\d+) archived=(\d+) "taken from their packs"=(\d+)`)
	build := func(name string, force bool, built []string, want string) {
		t.Helper()
		log.Reset()
		if diff := cmp.Diff(statuses(built...), f.buildForced(t, force)); diff != "" {
			t.Errorf("%s: results (-want +got):\n%s", name, diff)
		}
		m := counts.FindStringSubmatch(log.String())
		if want == "" && m != nil || want != "" && (m == nil || strings.Join(m[1:], " ") != want) {
			t.Errorf("%s: nodes, images archived and taken from their packs %v, want %q; log:\n%s", name, m, want, log.String())
		}
	}
	all := []string{"n1/system", "n1/runtime", "n2/system", "n2/runtime", "n3/system", "n3/runtime"}
	build("first build", false, all, "3 6 0")
	before := map[string][]byte{}
	for _, n := range []string{"n1", "n3"} {
		before[n] = nodePackBytes(t, packPath(f.builder.Dir, n))
	}
	f.write(t, "t/rootfs/etc/hostname.ww", "{{.Id}}{{if eq .Id \"n2\"}} (spare){{end}}\n")
	build("template edited for n2", false, []string{"n2/system"}, "3 1 2")
	build("nothing changed since", false, nil, "")
	snap := f.snapshot(t)
	for _, n := range []string{"n1", "n3"} {
		for _, format := range Formats {
			a, err := f.builder.Artifact(context.Background(), snap, n, System, format, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := unpack(t, a)["etc/hostname"]; got != n+"\n" {
				t.Errorf("%s's hostname in %s: %q", n, format, got)
			}
		}
		// The pack was written again (its inputs), with the same images.
		idxBefore, dataBefore := splitPack(t, before[n])
		idxAfter, dataAfter := splitPack(t, nodePackBytes(t, packPath(f.builder.Dir, n)))
		if !bytes.Equal(dataBefore, dataAfter) {
			t.Errorf("%s: the pack's data changed", n)
		}
		for k, m := range idxAfter {
			if o := idxBefore[k]; o.Own != m.Own || o.Output != m.Output || !maps.Equal(o.Bodies, m.Bodies) {
				t.Errorf("%s/%s: image changed: own %s -> %s, output %s -> %s", n, k, o.Own, m.Own, o.Output, m.Output)
			}
		}
		if idxBefore[System].Inputs == idxAfter[System].Inputs {
			t.Errorf("%s: the system image's inputs were not recorded", n)
		}
	}
	// Forced: every image archived anew, each the same as before.
	build("forced", true, nil, "3 6 0")
}

// nodePackBytes returns the pack of the node the pack file at path is
// named for, cut from the batch it is linked to.
func nodePackBytes(t *testing.T, path string) []byte {
	t.Helper()
	fh, _, at, err := openNodePack(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if at.Off == 0 {
		t.Fatalf("%s is a pack of its own, not a batch's", path)
	}
	data := make([]byte, at.Len)
	if _, err := fh.ReadAt(data, at.Off); err != nil {
		t.Fatal(err)
	}
	return data
}

// splitPack returns a pack's index and data.
func splitPack(t *testing.T, pack []byte) (packIndex, []byte) {
	t.Helper()
	idx, err := decodePackHead(bytes.NewReader(pack), "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range idx {
		return idx, pack[m.dataStart:]
	}
	t.Fatal("a pack with no image")
	return nil, nil
}

// unpack reads an artifact's parts in order, as the kernel would, and
// returns path -> content for files.
func unpack(t *testing.T, a *Artifact) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range a.Parts {
		data, err := p.Read()
		if err != nil {
			t.Fatal(err)
		}
		zr, err := compress.NewReader(bytes.NewReader(data), a.Format)
		if err != nil {
			t.Fatal(err)
		}
		r := cpio.NewReader(zr)
		for {
			h, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", p.Path, err)
			}
			if h.Mode.IsRegular() {
				data, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				out[h.Name] = string(data)
			}
		}
		zr.Close()
	}
	return out
}

func TestArtifactsUnpackToTheRenderedTree(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	snap := f.snapshot(t)
	want := map[string]string{
		"etc/static":   "same everywhere\n",
		"etc/hosts":    "10.0.0.1 n1\n10.0.0.2 n2\n10.0.0.3 n3\n",
		"etc/hostname": "n2\n",
		"etc/key":      "K1\n",
	}
	for _, format := range Formats {
		a, err := f.builder.Artifact(context.Background(), snap, "n2", System, format, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Parts) != 2 {
			t.Fatalf("%d parts, want a shared and an own archive", len(a.Parts))
		}
		if diff := cmp.Diff(want, unpack(t, a)); diff != "" {
			t.Errorf("format %s (-want +got):\n%s", format, diff)
		}
	}
	// The node's own archive holds only what differs between nodes.
	a, _ := f.builder.Artifact(context.Background(), snap, "n2", System, compress.None, false)
	own := unpack(t, &Artifact{Format: compress.None, Parts: a.Parts[1:]})
	if diff := cmp.Diff(map[string]string{"etc/hostname": "n2\n"}, own); diff != "" {
		t.Errorf("own archive (-want +got):\n%s", diff)
	}
}

func TestBadTemplateKeepsPreviousArchive(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	snap := f.snapshot(t)
	before, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Gzip, false)
	if err != nil {
		t.Fatal(err)
	}
	f.write(t, "t/rootfs/etc/hostname.ww", "{{.Id}\n")
	res := f.build(t)
	for _, line := range res {
		if strings.Contains(line, "/system") && !strings.Contains(line, `failed: node n`) || strings.Contains(line, "/system") && !strings.Contains(line, `overlay "t": template: t/etc/hostname.ww:1: bad character`) {
			t.Errorf("result %q, want a failure naming overlay, file and line", line)
		}
	}
	after, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Gzip, false)
	if err != nil {
		t.Fatalf("previous image gone: %v", err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("image replaced after a failed build (-before +after):\n%s", diff)
	}
	if got := unpack(t, after)["etc/hostname"]; got != "n1\n" {
		t.Errorf("hostname %q after a failed build, want the previous one", got)
	}
}

func TestConcurrentReadersSeeWholeArchives(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	pack := packPath(f.builder.Dir, "n1")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// As the daemon does: the manifest and the section from one
			// open file.
			fh, err := os.Open(pack)
			if err != nil {
				readErr = err
				return
			}
			st, err := fh.Stat()
			if err != nil {
				readErr = err
				fh.Close()
				return
			}
			table, err := readBatchTable(fh, st.Size())
			if err != nil {
				readErr = fmt.Errorf("read %d: %w", reads, err)
				fh.Close()
				return
			}
			at := table[strings.TrimSuffix(filepath.Base(pack), packExt)]
			idx, err := decodePackHead(io.NewSectionReader(fh, at.Off, at.Len), "", System)
			if err != nil {
				readErr = fmt.Errorf("read %d: %w", reads, err)
				fh.Close()
				return
			}
			m := idx[System]
			if m == nil {
				readErr = fmt.Errorf("read %d: no system image in the pack", reads)
				fh.Close()
				return
			}
			// The uncompressed form, the one a pack holds (derive.go
			// makes the others from it).
			sec, ok := m.Sections[sectionName(false, compress.None)]
			if !ok {
				readErr = fmt.Errorf("read %d: no uncompressed archive in %v", reads, m.Sections)
				fh.Close()
				return
			}
			r := cpio.NewReader(io.NewSectionReader(fh, at.Off+m.dataStart+sec.Off, sec.Len))
			for {
				_, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					readErr = fmt.Errorf("read %d: %w", reads, err)
					fh.Close()
					return
				}
			}
			fh.Close()
			reads++
		}
	}()
	for i := range 15 {
		f.write(t, "t/rootfs/etc/hostname.ww", fmt.Sprintf("{{.Id}} %d %s\n", i, strings.Repeat("x", i*100)))
		f.build(t)
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if reads == 0 {
		t.Fatal("the reader never read")
	}
}

func TestArtifactBuildsOnceForConcurrentCallers(t *testing.T) {
	f := newBuildFixture(t)
	snap := f.snapshot(t)
	// Hold the build lock so the first caller's build waits, until every
	// other caller has joined it.
	if err := os.MkdirAll(f.builder.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := atomicfile.Lock(context.Background(), filepath.Join(f.builder.Dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	const callers = 20
	var wg sync.WaitGroup
	etags := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := f.builder.Artifact(context.Background(), snap, "n3", Runtime, compress.Gzip, true)
			errs[i] = err
			if a != nil {
				etags[i] = a.ETag
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.builder.waits.Load() < callers-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	unlock()
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(etags)
	if etags[0] == "" || etags[0] != etags[callers-1] {
		t.Errorf("callers saw different artifacts: %v", etags)
	}
	if n := f.builder.builds.Load(); n != 1 {
		t.Errorf("%d builds for %d concurrent callers, want 1", n, callers)
	}
}

func TestImageWithNothingOfItsOwn(t *testing.T) {
	f := newBuildFixture(t)
	f.write(t, "r/rootfs/etc/motd.ww", "welcome\n")
	f.build(t)
	a, err := f.builder.Artifact(context.Background(), f.snapshot(t), "n1", Runtime, compress.Gzip, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Parts) != 1 || !strings.Contains(a.Parts[0].Path, sharedDir) {
		t.Fatalf("parts %v, want only the shared archive", a.Parts)
	}
	if diff := cmp.Diff(map[string]string{"etc/motd": "welcome\n"}, unpack(t, a)); diff != "" {
		t.Error(diff)
	}
}

// TestGNUCpioExtractsTheRenderedTree unpacks a node's built archives with
// GNU cpio, as an administrator would check them, in the order the
// kernel unpacks them.
func TestGNUCpioExtractsTheRenderedTree(t *testing.T) {
	gnu, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("GNU cpio is not installed")
	}
	f := newBuildFixture(t)
	f.build(t)
	a, err := f.builder.Artifact(context.Background(), f.snapshot(t), "n3", System, compress.None, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	parts := t.TempDir()
	for i, p := range a.Parts {
		data, err := p.Read()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(parts, fmt.Sprint(i))
		sitetest.Write(t, file, string(data))
		list, err := exec.Command(gnu, "-t", "-F", file).CombinedOutput()
		if err != nil {
			t.Fatalf("cpio -t %s: %v\n%s", p.Path, err, list)
		}
		cmd := exec.Command(gnu, "-i", "-d", "-u", "-F", file)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cpio -i %s: %v\n%s", p.Path, err, out)
		}
	}
	got := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		got[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"etc/static":   "same everywhere\n",
		"etc/hosts":    "10.0.0.1 n1\n10.0.0.2 n2\n10.0.0.3 n3\n",
		"etc/hostname": "n3\n",
		"etc/key":      "K1\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extracted tree (-want +got):\n%s", diff)
	}
}

func TestSecretFilesGoToTheirOwnPart(t *testing.T) {
	f := newBuildFixture(t)
	f.write(t, "t/rootfs/etc/ssh/host_key", "PRIVATE KEY shared by every node\n")
	f.write(t, "t/rootfs/etc/ipmi.ww", "password-of-{{.Id}}\n")
	// Site overlays take their modes from the files.
	for file, mode := range map[string]os.FileMode{"etc/ssh/host_key": 0o600, "etc/ipmi.ww": 0o640} {
		if err := os.Chmod(filepath.Join(f.cfg.Paths.Wwoverlaydir, "t/rootfs", file), mode); err != nil {
			t.Fatal(err)
		}
	}
	f.build(t)
	snap := f.snapshot(t)
	a, err := f.builder.Artifact(context.Background(), snap, "n2", System, compress.None, false)
	if err != nil {
		t.Fatal(err)
	}
	if !a.HasSecrets() || a.ETag == a.PublicETag {
		t.Fatalf("artifact %+v: want a secret part and distinct ETags", a)
	}
	secrets := map[string]string{
		"etc/ssh/host_key": "PRIVATE KEY shared by every node\n",
		"etc/ipmi":         "password-of-n2\n",
	}
	var secretParts []Part
	for _, p := range a.Parts {
		if p.Secret {
			secretParts = append(secretParts, p)
			st, err := os.Stat(p.Path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("secret archive %s: mode %v, %v; want 0600", p.Path, st.Mode(), err)
			}
		} else if got := unpack(t, &Artifact{Format: compress.None, Parts: []Part{p}}); got["etc/ssh/host_key"] != "" || got["etc/ipmi"] != "" {
			t.Errorf("public part %s holds a secret file", p.Path)
		}
	}
	if diff := cmp.Diff(secrets, unpack(t, &Artifact{Format: compress.None, Parts: secretParts})); diff != "" {
		t.Errorf("secret part (-want +got):\n%s", diff)
	}
	pub := a.Public()
	if pub.HasSecrets() || pub.ETag != a.PublicETag || len(pub.Parts) != len(a.Parts)-1 {
		t.Errorf("Public() = %+v", pub)
	}
	all := unpack(t, a)
	if all["etc/static"] != "same everywhere\n" || all["etc/ssh/host_key"] == "" {
		t.Errorf("whole artifact lacks files: %v", all)
	}
	// A rebuild with nothing changed keeps the archives.
	if diff := cmp.Diff(statuses(), f.build(t)); diff != "" {
		t.Errorf("rebuild (-want +got):\n%s", diff)
	}
	if _, err := secretParts[0].Read(); err != nil {
		t.Errorf("secret archive removed by a no-op rebuild: %v", err)
	}
}

func TestArtifactRebuildsAMissingArchive(t *testing.T) {
	for _, tc := range []struct {
		name string
		part func(a *Artifact) string // the file removed
	}{
		{name: "the node's pack", part: func(a *Artifact) string { return a.Parts[len(a.Parts)-1].Path }},
		{name: "the shared archive", part: func(a *Artifact) string { return a.Parts[0].Path }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newBuildFixture(t)
			f.build(t)
			snap := f.snapshot(t)
			a, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Gzip, true)
			if err != nil {
				t.Fatal(err)
			}
			want := unpack(t, a)
			if err := os.Remove(tc.part(a)); err != nil {
				t.Fatal(err)
			}
			// A second look through the manifest cache still notices.
			if _, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Gzip, false); err == nil {
				t.Fatal("Artifact without build served a missing archive")
			}
			a, err = f.builder.Artifact(context.Background(), snap, "n1", System, compress.Gzip, true)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, unpack(t, a)); diff != "" {
				t.Errorf("rebuilt image (-want +got):\n%s", diff)
			}
		})
	}
}

// A build killed mid-write leaves atomicfile's temporary files; the next
// build (a new Builder: a new process) removes them once it holds the
// build lock, and never while another build holds it.
func TestBuildRemovesWhatAKilledBuildLeft(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	dir := f.builder.Dir
	leftovers := []string{
		filepath.Join(dir, ".n1.pack.tmp-4242"),
		filepath.Join(dir, "n1", ".system-0123.img.zst.tmp-4242"), // a node directory, from before packs
		filepath.Join(dir, sharedDir, ".abcd.img.gz.tmp-77"),
	}
	for _, p := range leftovers {
		sitetest.Write(t, p, "half an archive")
	}
	if err := os.MkdirAll(filepath.Join(dir, "n2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("system-0123.img.gz", filepath.Join(dir, "n2", "__SYSTEM__.img.gz.tmp")); err != nil {
		t.Fatal(err)
	}
	leftovers = append(leftovers, filepath.Join(dir, "n2", "__SYSTEM__.img.gz.tmp"))
	keep := filepath.Join(dir, "n3", "notes.tmp") // not a link: not ours
	sitetest.Write(t, keep, "x")

	// While another build holds the lock, its temporary files are live.
	unlock, err := atomicfile.Lock(context.Background(), filepath.Join(dir, ".lock"))
	if err != nil {
		t.Fatal(err)
	}
	next := &Builder{Dir: dir, Workers: 2, NoSync: true}
	done := make(chan error, 1)
	go func() {
		_, err := next.Build(context.Background(), f.snapshot(t), nil, []ImageKind{System, Runtime}, false, nil)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	for _, p := range leftovers {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed while another build held the lock: %v", p, err)
		}
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range leftovers {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after the next build", p)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file that is no leftover was removed: %v", err)
	}
	a, err := next.Artifact(context.Background(), f.snapshot(t), "n1", System, compress.Zstd, false)
	if err != nil {
		t.Fatalf("the built archives did not survive the clean-up: %v", err)
	}
	if len(a.Parts) == 0 {
		t.Error("no parts")
	}
}

// TestBuildWritesNothingWorldReadable: archives (shared, own, secret)
// and manifests are readable by the daemon (root) only, never by any
// user logged in on the server; links are not files and are left out.
func TestBuildWritesNothingWorldReadable(t *testing.T) {
	f := newBuildFixture(t)
	f.write(t, "t/rootfs/etc/ssh/host_key", "PRIVATE KEY\n")
	if err := os.Chmod(filepath.Join(f.cfg.Paths.Wwoverlaydir, "t/rootfs/etc/ssh/host_key"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.build(t)
	var files []string
	err := filepath.WalkDir(f.builder.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == ".lock" {
			return err
		}
		files = append(files, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o007 != 0 {
			t.Errorf("%s has mode %v: others may read it", p, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Errorf("the build wrote only %v", files)
	}
}

// A group's shared manifest or archive that cannot be written (they are
// written while the nodes' packs are made) fails the build, and no node's
// pack name is linked to a batch that would refer to it.
func TestSharedWriteFailureLinksNothing(t *testing.T) {
	f := newBuildFixture(t)
	snap := f.snapshot(t)
	manifest := systemGroupManifest(t, f, snap)
	if err := os.MkdirAll(filepath.Join(manifest, "in the way"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := f.builder.Build(context.Background(), snap, nil, []ImageKind{System, Runtime}, false, nil)
	if err == nil || !strings.Contains(err.Error(), manifest) {
		t.Fatalf("build error %v, want one naming %s", err, manifest)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		if _, err := os.Lstat(packPath(f.builder.Dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s's pack: %v, want none", n, err)
		}
	}
	noTemporaryFiles(t, f.builder.Dir)
	noTemporaryFiles(t, filepath.Join(f.builder.Dir, sharedDir))

	// Out of the way, the next build writes everything.
	if err := os.RemoveAll(manifest); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(statuses("n1/system", "n1/runtime", "n2/system", "n2/runtime", "n3/system", "n3/runtime"), f.build(t)); diff != "" {
		t.Errorf("build after (-want +got):\n%s", diff)
	}
}

// A shared archive's forms are written zstd's last: a build looks for
// that form to know the archive is there in every form, so a build that
// fails (or is killed) before writing them all must not have written it.
func TestSharedFormsWrittenZstdLast(t *testing.T) {
	f := newBuildFixture(t)
	snap := f.snapshot(t)
	f.build(t)
	var set sharedSet
	data, err := os.ReadFile(systemGroupManifest(t, f, snap))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &set); err != nil || set.Archive == "" {
		t.Fatalf("system group's shared set %+v: %v", set, err)
	}
	// A map's order would write zstd's form before gzip's in about one
	// build in eight: 32 tries catch that nearly always, and any fixed
	// wrong order at once.
	for i := range 32 {
		b := &Builder{Dir: filepath.Join(t.TempDir(), "overlays"), Workers: 2, NoSync: true}
		gz := b.sharedPath(set.Archive, compress.Gzip)
		if err := os.MkdirAll(filepath.Join(gz, "in the way"), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Build(context.Background(), snap, nil, []ImageKind{System, Runtime}, false, nil); err == nil {
			t.Fatalf("try %d: the build wrote its shared archive over a directory", i)
		}
		if _, err := os.Stat(b.sharedPath(set.Archive, compress.Zstd)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("try %d: zstd's form written before gzip's: %v", i, err)
		}
	}
}

// systemGroupManifest is the path of the shared manifest of the fixture's
// system group (n1's system overlays).
func systemGroupManifest(t *testing.T, f *buildFixture, snap *Snapshot) string {
	t.Helper()
	list, err := snap.overlayList(System, snap.Node("n1"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(f.builder.Dir, sharedDir, groupKey(System, list)+".json")
}
