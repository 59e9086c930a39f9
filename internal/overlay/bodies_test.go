package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
)

// servedSum is the sha256 of parts one after the other, as the daemon
// sends them.
func servedSum(t *testing.T, parts []Part) string {
	t.Helper()
	h := sha256.New()
	for _, p := range parts {
		data, err := p.Read()
		if err != nil {
			t.Fatal(err)
		}
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkBodies checks that every image's recorded sha256, whole and
// public, is that of the bytes served, in every format.
func checkBodies(t *testing.T, f *buildFixture) {
	t.Helper()
	snap := f.snapshot(t)
	for _, node := range []string{"n1", "n2", "n3"} {
		for _, k := range []ImageKind{System, Runtime} {
			for _, format := range Formats {
				a, err := f.builder.Artifact(context.Background(), snap, node, k, format, false)
				if err != nil {
					t.Fatal(err)
				}
				if a.SHA256 == "" || a.SHA256 != servedSum(t, a.Parts) {
					t.Errorf("%s %s %q: recorded sha256 %q, served %s", node, k, format, a.SHA256, servedSum(t, a.Parts))
				}
				if !a.HasSecrets() {
					if a.PublicSHA256 != a.SHA256 {
						t.Errorf("%s %s %q: public sha256 %q differs without a secret part", node, k, format, a.PublicSHA256)
					}
					continue
				}
				pub := a.Public()
				if pub.SHA256 == a.SHA256 || pub.SHA256 != servedSum(t, pub.Parts) {
					t.Errorf("%s %s %q: public sha256 %q, served %s (whole %s)", node, k, format, pub.SHA256, servedSum(t, pub.Parts), a.SHA256)
				}
			}
		}
	}
}

func TestBuildRecordsTheServedSHA256(t *testing.T) {
	f := newBuildFixture(t)
	f.write(t, "t/rootfs/etc/ipmi.ww", "password-of-{{.Id}}\n")
	if err := os.Chmod(filepath.Join(f.cfg.Paths.Wwoverlaydir, "t/rootfs/etc/ipmi.ww"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T)
		want   []string
	}{
		{"first build", func(t *testing.T) {}, statuses("n1/system", "n1/runtime", "n2/system", "n2/runtime", "n3/system", "n3/runtime")},
		{"nothing changed", func(t *testing.T) {}, statuses()},
		{"only the shared archive changed", func(t *testing.T) {
			f.write(t, "t/rootfs/etc/static", "same everywhere, edited\n")
		}, statuses("n1/system", "n2/system", "n3/system")},
		{"a manifest from before sums were recorded", func(t *testing.T) {
			packs, _ := filepath.Glob(filepath.Join(f.builder.Dir, "n*.pack"))
			if len(packs) != 3 {
				t.Fatalf("packs %v", packs)
			}
			for _, p := range packs {
				rewritePack(t, p, func(idx packIndex) {
					if len(idx) != 2 {
						t.Fatalf("%s holds %d images, want 2", p, len(idx))
					}
					for k, m := range idx {
						old := *m
						old.Bodies = nil
						idx[k] = &old
					}
				})
			}
		}, statuses()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.change(t)
			if diff := cmp.Diff(tc.want, f.build(t)); diff != "" {
				t.Errorf("build (-want +got):\n%s", diff)
			}
			checkBodies(t, f)
		})
	}
}

func TestForcedBuildRepairsADamagedArchive(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	snap := f.snapshot(t)
	a, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Zstd, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range a.Parts {
		data, err := os.ReadFile(p.Path)
		if err != nil {
			t.Fatal(err)
		}
		data[p.Offset+p.Size/2] ^= 0xff
		if err := os.WriteFile(p.Path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := servedSum(t, a.Parts); got == a.SHA256 {
		t.Fatal("the recorded sha256 does not tell the damaged archives")
	}
	if diff := cmp.Diff(statuses(), f.build(t)); diff != "" {
		t.Errorf("a build without force (-want +got):\n%s", diff)
	}
	if _, err := f.builder.Build(context.Background(), snap, nil, []ImageKind{System, Runtime}, true, nil); err != nil {
		t.Fatal(err)
	}
	after, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Zstd, false)
	if err != nil {
		t.Fatal(err)
	}
	if after.SHA256 != a.SHA256 || servedSum(t, after.Parts) != a.SHA256 {
		t.Errorf("after a forced build: recorded %s, served %s; want both %s", after.SHA256, servedSum(t, after.Parts), a.SHA256)
	}
	checkBodies(t, f)
}

// TestFormMadeOnDemand checks that a pack holds its archives in the
// stored forms only, that the zstd form is made from the uncompressed
// one with the sha256 of what is served, and that a damaged
// uncompressed archive is refused where the form is made.
func TestFormMadeOnDemand(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	pack := packPath(f.builder.Dir, "n1")
	m := readPack(nil, pack, "", "")[System]
	if m == nil {
		t.Fatal("no pack")
	}
	var sections []string
	for name := range m.Sections {
		sections = append(sections, name)
	}
	sort.Strings(sections)
	if diff := cmp.Diff([]string{"own.img"}, sections); diff != "" {
		t.Errorf("sections of the pack (-want +got):\n%s", diff)
	}
	snap := f.snapshot(t)
	a, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Zstd, false)
	if err != nil {
		t.Fatal(err)
	}
	own := a.Parts[len(a.Parts)-1]
	if own.Data == nil || a.SHA256 != servedSum(t, a.Parts) {
		t.Fatalf("zstd form: made in memory %v, sha256 %s, served %s", own.Data != nil, a.SHA256, servedSum(t, a.Parts))
	}
	// Damage the uncompressed archive the zstd form is made from.
	raw := m.Sections[sectionName(false, compress.None)]
	data, err := os.ReadFile(pack)
	if err != nil {
		t.Fatal(err)
	}
	data[m.dataStart+raw.Off+raw.Len/2] ^= 0xff
	if err := os.WriteFile(pack, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := f.builder.Artifact(context.Background(), snap, "n1", System, compress.Zstd, false); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("zstd form of a damaged archive: %v, want it refused as damaged", err)
	}
}

// TestDerivedFormsKept checks which forms made on demand are kept: within
// the bound, never a secret archive's, none with a negative bound.
func TestDerivedFormsKept(t *testing.T) {
	data := bytes.Repeat([]byte("cpio archive "), 100)
	for _, tc := range []struct {
		name   string
		secret bool
		limit  int64
		kept   bool
	}{
		{"default bound", false, 0, true},
		{"secret", true, 0, false},
		{"none kept", false, -1, false},
		{"bound smaller than the form", false, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d derivedForms
			first, err := d.form(data, "sum", compress.Gzip, tc.secret, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			// A second, different archive under the same bound.
			if _, err := d.form(append(data, 'x'), "other", compress.Gzip, tc.secret, tc.limit); err != nil {
				t.Fatal(err)
			}
			again, err := d.form(data, "sum", compress.Gzip, tc.secret, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, again) {
				t.Fatal("the same archive made two different forms")
			}
			if kept := &first[0] == &again[0]; kept != tc.kept {
				t.Errorf("kept %v, want %v", kept, tc.kept)
			}
		})
	}
}

// rewritePack changes the index of the pack at path with change, keeping
// its data as it is.
func rewritePack(t *testing.T, path string, change func(packIndex)) {
	t.Helper()
	raw := nodePackBytes(t, path)
	idx, err := decodePackHead(bytes.NewReader(raw), "", "")
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var start int64
	for _, m := range idx {
		start = m.dataStart
	}
	change(idx)
	pack := encodePack(idx, raw[start:])
	// A pack of its own: the batch path is linked to is other nodes' too.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	sitetest.Write(t, path, string(pack))
}

// encodePack returns a pack of idx and data (each manifest's Sections
// pointing into data), as a build writes it.
func encodePack(idx packIndex, data []byte) []byte {
	return append(packHead(idx), data...)
}
