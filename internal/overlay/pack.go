package overlay

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/compress"
)

// A pack is one node's built images, both kinds, in one file
// (<node>.pack, e.g. n1.pack, beside the other nodes' packs), so that a
// build writes one file per node instead of a directory holding an
// archive per format, part and kind, a manifest and a link (each a new
// inode, which is what a build of thousands of nodes spent its time on).
// It is:
//
//	packMagic (22 bytes)
//	the index's length, 4 bytes big-endian
//	the index, JSON: the manifest of each kind the pack holds, by kind
//	the data: the sections the manifests list
//
// Each manifest's Sections give each archive form (the image's own
// archive and its secret archive, each in storedFormats) as an offset
// from the start of the data and a length; the daemon sends a section
// straight from the file (sendfile(2) from an offset). A build writes
// its nodes' packs into one file, a batch (batch.go), and replaces each
// node's <node>.pack with a link to it, holding the node's lock
// (nodeLockSet); it copies the kind it did not build from the pack it
// replaces, and a reader that opened one reads it whole.
const packMagic = "wwboot overlay pack 2\n"

// packMagic1 starts a pack of the layout before (NODE/__SYSTEM__.pack,
// NODE/__RUNTIME__.pack): one image, its manifest in place of the
// index. Such packs are served until the node's next build replaces them.
const packMagic1 = "wwboot overlay pack 1\n"

// legacyPackPath is where the layout before kept node's pack of kind k.
func legacyPackPath(dir, node string, k ImageKind) string {
	return filepath.Join(dir, node, k.Base()+packExt)
}

// maxManifest bounds the index a pack may declare.
const maxManifest = 64 << 20

// section is where one archive form is in a pack's data.
type section struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// packIndex is what a pack holds: a manifest by kind.
type packIndex map[ImageKind]*manifest

// packPath is the pack of node's images under dir.
func packPath(dir, node string) string { return filepath.Join(dir, node+packExt) }

// packExt ends a pack's file name.
const packExt = ".pack"

// packNode returns the node whose pack e is, if it is one.
func packNode(e fs.DirEntry) (string, bool) {
	node, ok := strings.CutSuffix(e.Name(), packExt)
	if !ok || node == "" || strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
		return "", false
	}
	return node, true
}

// sectionName names the form f of the own or the secret archive in
// manifest.Sections.
func sectionName(secret bool, f compress.Format) string {
	if secret {
		return "secret.img" + f.Ext()
	}
	return "own.img" + f.Ext()
}

// packHead returns what a pack of idx holds before its data: the magic,
// the index's length and the index.
func packHead(idx packIndex) []byte {
	head := make([]byte, len(packMagic)+4, 1024)
	copy(head, packMagic)
	head = appendIndexJSON(head, idx)
	binary.BigEndian.PutUint32(head[len(packMagic):], uint32(len(head)-len(packMagic)-4))
	return head
}

// appendIndexJSON appends idx as json.Marshal writes it (the same
// bytes: keys in order, HTML-safe escaping), without reflection: a build
// writes one a node.
func appendIndexJSON(b []byte, idx packIndex) []byte {
	return appendObjectJSON(b, idx, appendManifestJSON)
}

func appendManifestJSON(b []byte, m *manifest) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"inputs":`...)
	b = appendJSONString(b, m.Inputs)
	if len(m.Reads) > 0 {
		b = append(b, `,"reads":`...)
		b = appendObjectJSON(b, m.Reads, appendJSONString)
	}
	b = append(b, `,"output":`...)
	b = appendJSONString(b, m.Output)
	if m.Shared != "" {
		b = append(b, `,"shared":`...)
		b = appendJSONString(b, m.Shared)
	}
	b = append(b, `,"own":`...)
	b = appendJSONString(b, m.Own)
	if m.Secret != "" {
		b = append(b, `,"secret":`...)
		b = appendJSONString(b, m.Secret)
	}
	b = append(b, `,"sections":`...)
	if m.Sections == nil {
		b = append(b, "null"...)
	} else {
		b = appendObjectJSON(b, m.Sections, func(b []byte, sec section) []byte {
			b = append(b, `{"off":`...)
			b = strconv.AppendInt(b, sec.Off, 10)
			b = append(b, `,"len":`...)
			b = strconv.AppendInt(b, sec.Len, 10)
			return append(b, '}')
		})
	}
	if len(m.Bodies) > 0 {
		b = append(b, `,"bodies":`...)
		b = appendObjectJSON(b, m.Bodies, func(b []byte, sums bodySums) []byte {
			b = append(b, `{"all":`...)
			b = appendJSONString(b, sums.All)
			if sums.Public != "" {
				b = append(b, `,"public":`...)
				b = appendJSONString(b, sums.Public)
			}
			return append(b, '}')
		})
	}
	return append(b, '}')
}

// appendObjectJSON appends m as a JSON object, its keys in order, each
// value written by value.
func appendObjectJSON[K ~string, V any](b []byte, m map[K]V, value func([]byte, V) []byte) []byte {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, string(k))
		b = append(b, ':')
		b = value(b, m[k])
	}
	return append(b, '}')
}

// appendJSONString appends s quoted; a string with anything json.Marshal
// escapes (controls, quotes, backslashes, <, >, &, non-ASCII) is left to
// it, so that the bytes are its own.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			js, _ := json.Marshal(s) // a string always encodes
			return append(b, js...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// readPack reads the index at the head of the pack at path, setting its
// manifests' path and dataStart; nil when the file is missing, not a
// pack, or shorter than the sections it lists. A pack of the layout
// before (packMagic1) is read as holding an image of kind old. With only
// set, the index holds that kind's manifest alone (if the pack has it):
// the daemon keeps the manifests it serves, not every one a pack holds.
// When path is a batch (batchMagic), the pack read is that of the node
// path names (openNodePack), whose sections must lie within it.
func readPack(tables *batchTables, path string, old, only ImageKind) packIndex {
	f, _, at, err := openNodePack(tables, path)
	if err != nil {
		return nil
	}
	defer f.Close()
	idx, err := decodePackHead(io.NewSectionReader(f, at.Off, at.Len), old, only)
	if err != nil {
		return nil
	}
	for _, m := range idx {
		m.dataStart += at.Off
		if at.Off+at.Len < m.end() {
			return nil
		}
		m.path = path
	}
	return idx
}

// openNodePack opens the pack file at path and returns it, its stat and
// where in it the pack of the node path names is: the whole file, or,
// in a batch, the node's pack as the batch's table (kept in tables,
// which may be nil) gives it; an error when the batch does not hold that
// node.
func openNodePack(tables *batchTables, path string) (*os.File, os.FileInfo, section, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, section{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, section{}, err
	}
	at := section{Len: st.Size()}
	var magic [len(batchMagic)]byte
	if n, _ := f.ReadAt(magic[:], 0); n == len(magic) && string(magic[:]) == batchMagic {
		t, err := tables.table(f, st)
		if err != nil {
			f.Close()
			return nil, nil, section{}, fmt.Errorf("%s: %w", path, err)
		}
		node, _ := strings.CutSuffix(filepath.Base(path), packExt)
		var ok bool
		if at, ok = t[node]; !ok {
			f.Close()
			return nil, nil, section{}, fmt.Errorf("%s: the batch holds no pack of node %q", path, node)
		}
	}
	return f, st, at, nil
}

// decodePackHead reads a pack's head: its index (only the manifest of
// kind only, when set), or, in a pack of the layout before, its manifest
// as that of an image of kind old.
func decodePackHead(r io.Reader, old, only ImageKind) (packIndex, error) {
	head := make([]byte, 4096)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	head = head[:n]
	v1 := bytes.HasPrefix(head, []byte(packMagic1))
	if len(head) < len(packMagic)+4 || !v1 && !bytes.HasPrefix(head, []byte(packMagic)) {
		return nil, errors.New("not an overlay pack")
	}
	size := int64(binary.BigEndian.Uint32(head[len(packMagic):]))
	if size > maxManifest {
		return nil, fmt.Errorf("overlay pack index of %d bytes", size)
	}
	start := int64(len(packMagic)) + 4
	js := head[start:]
	if int64(len(js)) >= size {
		js = js[:size]
	} else {
		rest := make([]byte, size-int64(len(js)))
		if _, err := io.ReadFull(r, rest); err != nil {
			return nil, err
		}
		js = append(js, rest...)
	}
	idx := packIndex{}
	if v1 {
		if old != System && old != Runtime {
			return nil, errors.New("overlay pack of the layout before read without its kind")
		}
		m := &manifest{}
		if err := json.Unmarshal(js, m); err != nil {
			return nil, err
		}
		if only == "" || only == old {
			idx[old] = m
		}
	} else {
		var raw map[ImageKind]json.RawMessage
		if err := json.Unmarshal(js, &raw); err != nil {
			return nil, err
		}
		for k, js := range raw {
			if k != System && k != Runtime {
				return nil, fmt.Errorf("overlay pack index names an image %q", k)
			}
			if only != "" && k != only {
				continue
			}
			m := &manifest{}
			if err := json.Unmarshal(js, m); err != nil {
				return nil, err
			}
			idx[k] = m
		}
	}
	for k, m := range idx {
		if m.Own == "" && m.Shared == "" {
			return nil, fmt.Errorf("overlay pack's %s manifest names no archive", k)
		}
		m.dataStart = start + size
	}
	return idx, nil
}

// end is the offset in the pack just after its last section.
func (m *manifest) end() int64 {
	end := m.dataStart
	for _, s := range m.Sections {
		end = max(end, m.dataStart+s.Off+s.Len)
	}
	return end
}

// sectionBytes returns the form f of the own or secret archive from the
// data of the pack m was read from.
func (m *manifest) sectionBytes(data []byte, secret bool, f compress.Format) ([]byte, bool) {
	s, ok := m.Sections[sectionName(secret, f)]
	if !ok || s.Off < 0 || s.Len < 0 || s.Off+s.Len > int64(len(data)) {
		return nil, false
	}
	return data[s.Off : s.Off+s.Len], true
}

// imageBytes returns the sections of the image m describes, read from
// the pack m was read from, as one block with m's sections moved to
// point into it (the manifest returned is a copy); a build that replaces
// a node's pack without building that image keeps it this way.
func imageBytes(m *manifest) (*manifest, []byte, error) {
	path := m.path
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	c := *m
	c.Sections = make(map[string]section, len(m.Sections))
	names := make([]string, 0, len(m.Sections))
	for name := range m.Sections {
		names = append(names, name)
	}
	slices.Sort(names)
	var total int64
	for _, s := range m.Sections {
		total += s.Len
	}
	data := make([]byte, 0, total)
	for _, name := range names {
		s := m.Sections[name]
		off := int64(len(data))
		data = data[:off+s.Len]
		if _, err := f.ReadAt(data[off:], m.dataStart+s.Off); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
		}
		c.Sections[name] = section{Off: off, Len: s.Len}
	}
	return &c, data, nil
}
