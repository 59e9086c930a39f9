package overlay

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wwboot/wwboot/internal/compress"
)

// A pack is one node's built image of one kind, in one file
// (<node>/<Base>.pack, e.g. n1/__SYSTEM__.pack), so that a build writes
// one file per image instead of an archive per format and part, a
// manifest and a link (each a new inode, which is what a build of
// thousands of nodes spent its time on). It is:
//
//	packMagic (22 bytes)
//	the manifest's length, 4 bytes big-endian
//	the manifest, JSON
//	the data: the sections the manifest lists
//
// The manifest's Sections give each archive form (the node's own archive
// and its secret archive, each in storedFormats) as an offset
// from the start of the data and a length; the daemon sends a section
// straight from the file (sendfile(2) from an offset). A pack holding a
// secret archive is the daemon's alone (0600), any other 0640. A build
// replaces a pack by rename, so a reader that opened one reads it whole.
const packMagic = "wwboot overlay pack 1\n"

// maxManifest bounds the manifest a pack may declare.
const maxManifest = 64 << 20

// section is where one archive form is in a pack's data.
type section struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// packName is the file name of the pack of images of base.
func packName(base string) string { return base + ".pack" }

// sectionName names the form f of the own or the secret archive in
// manifest.Sections.
func sectionName(secret bool, f compress.Format) string {
	if secret {
		return "secret.img" + f.Ext()
	}
	return "own.img" + f.Ext()
}

// encodePack returns a pack of m and data (m.Sections pointing into data).
func encodePack(m *manifest, data []byte) ([]byte, error) {
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(packMagic)+4+len(js)+len(data))
	out = append(out, packMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(js)))
	out = append(out, js...)
	return append(out, data...), nil
}

// readPack reads the manifest at the head of the pack at path, setting
// its dataStart; nil when the file is missing, not a pack, or shorter than
// the sections it lists.
func readPack(path string) *manifest {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	m, err := decodePackHead(f)
	if err != nil {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Size() < m.end() {
		return nil
	}
	return m
}

func decodePackHead(r io.Reader) (*manifest, error) {
	head := make([]byte, 4096)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	head = head[:n]
	if len(head) < len(packMagic)+4 || !bytes.HasPrefix(head, []byte(packMagic)) {
		return nil, errors.New("not an overlay pack")
	}
	size := int64(binary.BigEndian.Uint32(head[len(packMagic):]))
	if size > maxManifest {
		return nil, fmt.Errorf("overlay pack manifest of %d bytes", size)
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
	m := &manifest{}
	if err := json.Unmarshal(js, m); err != nil {
		return nil, err
	}
	if m.Own == "" && m.Shared == "" {
		return nil, errors.New("overlay pack manifest names no archive")
	}
	m.dataStart = start + size
	return m, nil
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

// readPackData returns the data of the pack at path whose manifest is m.
func readPackData(path string, m *manifest) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, m.end()-m.dataStart)
	if _, err := f.ReadAt(data, m.dataStart); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return data, nil
}
