package overlay

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"sync"
	"syscall"

	"github.com/wwboot/wwboot/internal/compress"
)

// A pack holds a node's own and secret archives in storedFormats only;
// a form it lacks (gzip, zstd) is made from the uncompressed one when
// first asked for. The uncompressed bytes are checked against the sha256 the
// build recorded (manifest.Own, manifest.Secret) before, so that a
// damaged pack is refused where the form is made, and the sha256 of the
// image in the new form is worked out from bytes known to be right.
// Compression is deterministic: the same archive always gives the same
// bytes, so a form made again (after a restart, or for a secret archive,
// which is never kept) has the sha256 of the first.

// defaultDerivedBytes bounds the forms kept in memory when
// Builder.DerivedMemory is unset.
const defaultDerivedBytes = 32 << 20

// derivedForms keeps the forms made, by the sha256 of the archive and
// the format; each is made once however many ask at the same time.
// Secret archives are made for each request and never kept.
type derivedForms struct {
	mu      sync.Mutex
	entries map[string]*derivedForm
	size    int64
	// encoders are compress.Encoders by format, reused.
	encoders sync.Map // compress.Format -> *sync.Pool
	// shared are sha256 states after a shared archive's form, by path.
	shared sync.Map // path -> *sharedSum
}

type derivedForm struct {
	once sync.Once
	data []byte
	err  error
}

// sharedSum is the sha256 state after a shared archive's file, valid
// while the file keeps its identity.
type sharedSum struct {
	ino, size uint64
	mod       int64
	state     []byte
}

// form returns archive data (sha256 sum) in format f, compressing it and
// keeping the result, within limit bytes, unless secret.
func (d *derivedForms) form(data []byte, sum string, f compress.Format, secret bool, limit int64) ([]byte, error) {
	if limit == 0 {
		limit = defaultDerivedBytes
	}
	if secret || limit < 0 {
		return d.compress(data, f)
	}
	key := sum + "." + string(f)
	d.mu.Lock()
	if d.entries == nil {
		d.entries = map[string]*derivedForm{}
	}
	e, ok := d.entries[key]
	if !ok {
		e = &derivedForm{}
		d.entries[key] = e
	}
	d.mu.Unlock()
	made := false
	e.once.Do(func() {
		e.data, e.err = d.compress(data, f)
		made = true
	})
	if made && e.err == nil {
		d.mu.Lock()
		d.size += int64(len(e.data))
		if d.size > limit {
			// Full: start again (the forms are made again when asked).
			d.entries = map[string]*derivedForm{key: e}
			d.size = int64(len(e.data))
		}
		d.mu.Unlock()
	}
	return e.data, e.err
}

func (d *derivedForms) compress(data []byte, f compress.Format) ([]byte, error) {
	v, _ := d.encoders.LoadOrStore(f, &sync.Pool{})
	pool := v.(*sync.Pool)
	e, _ := pool.Get().(*compress.Encoder)
	if e == nil {
		var err error
		if e, err = compress.NewEncoder(f, 0); err != nil {
			return nil, err
		}
	}
	out, err := e.Encode(data)
	if err == nil {
		out = bytes.Clone(out) // the encoder's buffer, reused by its next call
	}
	pool.Put(e)
	return out, err
}

// sharedHash returns a sha256 that has hashed the file at path (a shared
// archive), from the state kept when the file is the one hashed before.
func (d *derivedForms) sharedHash(path string) (hash.Hash, error) {
	h := sha256.New()
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	key := sharedSum{size: uint64(st.Size()), mod: st.ModTime().UnixNano()}
	if ok {
		key.ino = sys.Ino
		if v, ok := d.shared.Load(path); ok {
			if c := v.(*sharedSum); c.ino == key.ino && c.size == key.size && c.mod == key.mod {
				if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(c.state); err == nil {
					return h, nil
				}
			}
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h.Write(data)
	if ok {
		if key.state, err = h.(encoding.BinaryMarshaler).MarshalBinary(); err == nil {
			d.shared.Store(path, &key)
		}
	}
	return h, nil
}

// derive fills in the parts of artifact a (format f) its pack lacks,
// made from the uncompressed form of the pack at path, and the image's
// sha256 in format f. own and secret are the uncompressed sections.
func (b *Builder) derive(a *Artifact, m *manifest, path string, f compress.Format) error {
	var h hash.Hash
	if m.Shared != "" {
		var err error
		if h, err = b.derived.sharedHash(b.sharedPath(m.Shared, f)); err != nil {
			return err
		}
	} else {
		h = sha256.New()
	}
	var public string
	for i := range a.Parts {
		p := &a.Parts[i]
		if p.Path != path {
			continue // the shared archive, hashed above
		}
		if p.Secret && public == "" {
			public = hex.EncodeToString(h.Sum(nil))
		}
		if p.Data == nil {
			// A form the pack holds (a pack of an older build).
			data, err := p.Read()
			if err != nil {
				return err
			}
			h.Write(data)
			continue
		}
		h.Write(p.Data)
	}
	a.SHA256 = hex.EncodeToString(h.Sum(nil))
	a.PublicSHA256 = public
	if public == "" {
		a.PublicSHA256 = a.SHA256
	}
	return nil
}

// derivedPart returns the part of the own or secret archive (sha256 sum)
// in format f, made from its uncompressed form s in the pack at path,
// whose data starts at dataStart.
func (b *Builder) derivedPart(path string, dataStart int64, s section, sum string, secret bool, f compress.Format) (Part, error) {
	raw, err := Part{Path: path, Offset: dataStart + s.Off, Size: s.Len}.Read()
	if err != nil {
		return Part{}, err
	}
	if got := sha256.Sum256(raw); hex.EncodeToString(got[:]) != sum {
		what := "own"
		if secret {
			what = "secret"
		}
		return Part{}, fmt.Errorf("%s: the %s archive is damaged (sha256 %x, built as %s); wwctl overlay build --force writes it again",
			path, what, got, sum)
	}
	data, err := b.derived.form(raw, sum, f, secret, b.DerivedMemory)
	if err != nil {
		return Part{}, err
	}
	return Part{Path: path, Offset: dataStart + s.Off, Size: int64(len(data)), Data: data, Secret: secret}, nil
}
