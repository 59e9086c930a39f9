package provision

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
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
		w.Header().Set(contract.HeaderWithheld, contract.WithheldSecrets)
		a = a.Public()
	}
	pr, err := s.blobs.open(a.Parts)
	if err != nil {
		// Rebuilt since it was checked: the next request checks again.
		s.forgetArtifact(req, kind)
		s.fail(w, req, http.StatusNotFound, sentNotFound, "node %s %s overlay: %v", req.node, kind, err)
		return
	}
	defer pr.Close()
	name := kind.Base() + ".img" + req.format.Ext()
	if plainGet(r) {
		s.sendParts(w, r, req, name, a.ETag, a.SHA256, pr)
		return
	}
	// The sha256 is the whole body's, also in a partial answer: stage
	// one checks what it assembled from the parts it resumed.
	if a.SHA256 != "" {
		w.Header().Set(contract.HeaderChecksum, a.SHA256)
	}
	s.serveContent(w, r, req, name, a.ETag, pr.mod, pr)
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

// sendParts answers a plainGet with the parts (of an overlay, or an image
// and its secret archive) one after the other: those held in memory
// written as they are, the files each by sendfile(2) (http.ServeContent
// would copy them through a buffer, since the concatenation is no file).
// sum, when known, is the body's sha256.
func (s *Server) sendParts(w http.ResponseWriter, r *http.Request, req *request, sent, etag, sum string, pr *partsReader) {
	// The header's values share one array: one allocation, not one per
	// field. The names are canonical already.
	h := w.Header()
	v := [...]string{"application/octet-stream", `"` + etag + `"`, pr.lastModified(), "bytes", sum, ""}
	vals := v[:]
	h["Etag"] = vals[1:2:2]
	h["Last-Modified"] = vals[2:3:3]
	h["Accept-Ranges"] = vals[3:4:4]
	if sum != "" {
		h[contract.HeaderChecksum] = vals[4:5:5]
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		s.record(req.node, req.stage, sent, req.addr, 0)
		return
	}
	vals[5] = strconv.FormatInt(pr.total, 10)
	h["Content-Type"] = vals[0:1:1]
	h["Content-Length"] = vals[5:6:6]
	w.WriteHeader(http.StatusOK)
	cw := &countingWriter{ResponseWriter: w}
	if r.Method != http.MethodHead {
		if err := s.writeParts(cw, pr); err != nil {
			s.log.Warn("sending an artifact was cut short", "node", req.node, "stage", req.stage, "addr", req.addr, "err", err)
		}
	}
	s.record(req.node, req.stage, sent, req.addr, cw.n)
}

// maxJoined is the largest body held in memory that writeParts copies
// into one buffer.
const maxJoined = 256 << 10

// writeParts writes the parts to w. A body held in memory goes in one
// write, so that the header and body leave in as few segments as
// http.FileServer's write and sendfile(2) make, not one more per part;
// files go by sendfile(2).
func (s *Server) writeParts(w io.Writer, pr *partsReader) error {
	joined := len(pr.segs) > 1 && pr.total <= maxJoined
	for _, sg := range pr.segs {
		joined = joined && sg.f == nil
	}
	if joined {
		bp, _ := s.joinBufs.Get().(*[]byte)
		if bp == nil {
			bp = new([]byte)
		}
		buf := (*bp)[:0]
		for _, sg := range pr.segs {
			buf = append(buf, sg.data...)
		}
		_, err := w.Write(buf)
		*bp = buf
		s.joinBufs.Put(bp)
		return err
	}
	for _, sg := range pr.segs {
		var err error
		if sg.f == nil {
			_, err = w.Write(sg.data)
		} else {
			_, err = io.CopyN(w, sg.f, sg.size)
		}
		if err != nil {
			return err
		}
	}
	return nil
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

// partsReader reads parts one after the other as one seekable stream.
type partsReader struct {
	segs    []segment
	seg     [3]segment // segs' array for an image of up to three parts
	total   int64
	mod     time.Time // the latest part's modification time
	modText string    // mod in http.TimeFormat, once known
	off     int64
}

// segment is one part: its bytes, or the open file and its length.
type segment struct {
	data []byte
	f    *os.File
	size int64
}

// add appends a part modified at mod; modText, when set, is mod in
// http.TimeFormat.
func (p *partsReader) add(sg segment, mod time.Time, modText string) {
	p.segs = append(p.segs, sg)
	p.total += sg.size
	if mod.After(p.mod) {
		p.mod, p.modText = mod, modText
	}
}

// lastModified is the Last-Modified of the parts.
func (p *partsReader) lastModified() string {
	if p.modText == "" {
		p.modText = p.mod.UTC().Format(http.TimeFormat)
	}
	return p.modText
}

func (p *partsReader) Read(b []byte) (int, error) {
	if p.off >= p.total {
		return 0, io.EOF
	}
	start := int64(0)
	for _, sg := range p.segs {
		if p.off < start+sg.size {
			want := min(int64(len(b)), start+sg.size-p.off)
			var n int
			var err error
			if sg.f == nil {
				n = copy(b[:want], sg.data[p.off-start:])
			} else {
				n, err = sg.f.ReadAt(b[:want], p.off-start)
			}
			p.off += int64(n)
			if err == io.EOF && int64(n) == want {
				err = nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the part shrank
			}
			return n, err
		}
		start += sg.size
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

// Close closes the parts' open files.
func (p *partsReader) Close() error {
	for _, sg := range p.segs {
		if sg.f != nil {
			sg.f.Close()
		}
	}
	return nil
}
