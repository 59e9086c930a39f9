package provision

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/overlay"
)

// countingWriter counts the body bytes sent.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// ReadFrom keeps the response's own ReadFrom in use, which sends a file
// with sendfile(2) instead of copying it through user space.
func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.ResponseWriter.(io.ReaderFrom); ok {
		n, err := rf.ReadFrom(r)
		c.n += n
		return n, err
	}
	return io.Copy(struct{ io.Writer }{c}, r)
}

// serveContent sends content with Range, ETag and If-None-Match support
// and records what was sent.
func (s *Server) serveContent(w http.ResponseWriter, r *http.Request, req *request, sent, etag string, mod time.Time, content io.ReadSeeker) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if etag != "" {
		w.Header().Set("ETag", `"`+etag+`"`)
	}
	cw := &countingWriter{ResponseWriter: w}
	http.ServeContent(cw, r, sent, mod, content)
	if req.node != "" {
		s.record(req.node, req.stage, sent, req.addr, cw.n)
	} else {
		s.statusMu.Lock()
		s.count(req.stage, sent, cw.n)
		s.statusMu.Unlock()
	}
}

func (s *Server) serveKernel(w http.ResponseWriter, r *http.Request, req *request) {
	root, img, k, ok := s.nodeKernel(w, req)
	if !ok {
		return
	}
	f, rel, err := image.OpenIn(root, k.Path, req.format.Ext())
	if err != nil {
		if rel == "" {
			rel = strings.TrimPrefix(k.Path, "/") + req.format.Ext()
		}
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q kernel %s: %v", img, "/"+rel, err)
		return
	}
	defer f.Close()
	if !s.serveFile(w, r, req, f, path.Base(rel), "") {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q kernel %s is not a regular file", img, "/"+rel)
	}
}

func (s *Server) serveImage(w http.ResponseWriter, r *http.Request, req *request) {
	m := req.st.nodes[req.node]
	img := deref(m.ImageName)
	if img == "" || !image.ValidName(img) {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "node %s has no image", req.node)
		return
	}
	p := s.o.Images.Archive(img) + ".img" + req.format.Ext()
	f, err := os.Open(p)
	if err != nil {
		if req.format == compress.None {
			for _, alt := range []compress.Format{compress.Gzip, compress.Zstd} {
				if _, err := os.Stat(s.o.Images.Archive(img) + ".img" + alt.Ext()); err == nil {
					s.fail(w, req, http.StatusNotFound, sentNotFound,
						"image %q is built only compressed: ask with compress=gz or compress=zstd, or rebuild it uncompressed", img)
					return
				}
			}
		}
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q is not built in format %s: %v", img, req.format, err)
		return
	}
	defer f.Close()
	// The sha256 is the ETag, and stage one of two-stage boot checks
	// what it unpacked against it.
	sum, _ := image.ReadSHA256(p)
	if sum != "" {
		w.Header().Set("X-Checksum-Sha256", sum)
	}
	if !s.serveFile(w, r, req, f, filepath.Base(p), sum) {
		w.Header().Del("X-Checksum-Sha256")
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q archive %s is not a regular file", img, p)
	}
}

// serveFile sends f, named sent, with etag (when "", one made of its
// size and modification time). It sends nothing and returns false when
// f is not a regular file.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, req *request, f *os.File, sent, etag string) bool {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	if etag == "" {
		etag = fmt.Sprintf("%x-%x", st.Size(), st.ModTime().UnixNano())
	}
	s.serveContent(w, r, req, sent, etag, st.ModTime(), f)
	return true
}

func (s *Server) serveOverlay(w http.ResponseWriter, r *http.Request, req *request) {
	kind := overlay.System
	if req.stage == stageRuntime {
		kind = overlay.Runtime
	}
	a, err := s.artifact(r.Context(), req, kind)
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "%v", err)
		return
	}
	if a.HasSecrets() && req.proof == proofNone {
		// Whoever knows a MAC gets the overlay, but not its secret
		// files: those go only to a request that proves it is the node.
		s.log.Warn("secret files withheld: the request carried no token or asset key and did not come from a privileged port of the node's address",
			"node", req.node, "stage", req.stage, "addr", req.addr)
		w.Header().Set("X-Wwboot-Withheld", "secret files")
		a = a.Public()
	}
	pr, mod, err := openParts(a.Parts)
	if err != nil {
		// Rebuilt since it was checked: the next request checks again.
		s.forgetArtifact(req, kind)
		s.fail(w, req, http.StatusNotFound, sentNotFound, "node %s %s overlay: %v", req.node, kind, err)
		return
	}
	defer pr.Close()
	name := kind.Base() + ".img" + req.format.Ext()
	if plainGet(r) {
		s.sendParts(w, r, req, name, a.ETag, mod, pr)
		return
	}
	s.serveContent(w, r, req, name, a.ETag, mod, pr)
}

// plainGet reports whether r asks for a whole body with at most an
// If-None-Match condition: what a booting node and wwclient send.
func plainGet(r *http.Request) bool {
	for _, h := range []string{"Range", "If-Range", "If-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return true
}

// sendParts answers a plainGet with the parts one after the other, each
// by sendfile(2): http.ServeContent would copy them through a buffer,
// since the concatenation is no file.
func (s *Server) sendParts(w http.ResponseWriter, r *http.Request, req *request, sent, etag string, mod time.Time, pr *partsReader) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+etag+`"`)
	h.Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		s.record(req.node, req.stage, sent, req.addr, 0)
		return
	}
	h.Set("Content-Length", strconv.FormatInt(pr.total, 10))
	w.WriteHeader(http.StatusOK)
	cw := &countingWriter{ResponseWriter: w}
	if r.Method != http.MethodHead {
		for i, f := range pr.files {
			if _, err := io.CopyN(cw, f, pr.sizes[i]); err != nil {
				s.log.Warn("sending an overlay was cut short", "node", req.node, "stage", req.stage, "addr", req.addr, "err", err)
				break
			}
		}
	}
	s.record(req.node, req.stage, sent, req.addr, cw.n)
}

// etagMatch reports whether an If-None-Match header names etag (weak
// comparison, as RFC 9110 asks for it).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == `"`+etag+`"` {
			return true
		}
	}
	return false
}

// partsReader reads files one after the other as one seekable stream.
type partsReader struct {
	files []*os.File
	sizes []int64
	total int64
	off   int64
}

// openParts opens the parts; their sizes are taken from the open files so
// the stream is consistent with what is read.
func openParts(parts []overlay.Part) (*partsReader, time.Time, error) {
	pr := &partsReader{}
	var mod time.Time
	for _, p := range parts {
		f, err := os.Open(p.Path)
		if err != nil {
			pr.Close()
			return nil, time.Time{}, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			pr.Close()
			return nil, time.Time{}, err
		}
		if st.ModTime().After(mod) {
			mod = st.ModTime()
		}
		pr.files = append(pr.files, f)
		pr.sizes = append(pr.sizes, st.Size())
		pr.total += st.Size()
	}
	return pr, mod, nil
}

func (p *partsReader) Read(b []byte) (int, error) {
	if p.off >= p.total {
		return 0, io.EOF
	}
	start := int64(0)
	for i, size := range p.sizes {
		if p.off < start+size {
			want := min(int64(len(b)), start+size-p.off)
			n, err := p.files[i].ReadAt(b[:want], p.off-start)
			p.off += int64(n)
			if err == io.EOF && int64(n) == want {
				err = nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the part shrank
			}
			return n, err
		}
		start += size
	}
	return 0, io.EOF
}

func (p *partsReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += p.off
	case io.SeekEnd:
		offset += p.total
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("seek: negative position")
	}
	p.off = offset
	return offset, nil
}

func (p *partsReader) Close() error {
	for _, f := range p.files {
		f.Close()
	}
	return nil
}
