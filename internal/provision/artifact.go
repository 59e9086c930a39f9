package provision

import (
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
	// Whoever knows a MAC gets the overlay, but not its secret files:
	// those go only to a request that proves it is the node.
	body, err := s.archives.Open(r.Context(), overlay.Request{Snap: req.st.snap, Node: req.node, Kind: kind, Format: req.format,
		Secrets: req.proof != proofNone, Build: req.st.cfg.Warewulf.AutobuildOverlays})
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "%v", err)
		return
	}
	defer body.Close()
	if body.Withheld {
		s.log.Warn("secret files withheld: the request carried no token or asset key and did not come from a privileged port of the node's address",
			"node", req.node, "stage", req.stage, "addr", req.addr)
		w.Header().Set(contract.HeaderWithheld, contract.WithheldSecrets)
	}
	s.serveBody(w, r, req, kind.Base()+".img"+req.format.Ext(), body)
}

// serveBody sends body, named sent: a plainGet by sendBody, anything
// else (Range, conditions) by http.ServeContent.
func (s *Server) serveBody(w http.ResponseWriter, r *http.Request, req *request, sent string, body *overlay.Body) {
	if plainGet(r) {
		s.sendBody(w, r, req, sent, body)
		return
	}
	// The sha256 is the whole body's, also in a partial answer: stage
	// one checks what it assembled from the parts it resumed.
	if body.SHA256 != "" {
		w.Header().Set(contract.HeaderChecksum, body.SHA256)
	}
	s.serveContent(w, r, req, sent, body.ETag, body.ModTime(), body)
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

// sendBody answers a plainGet with body (an overlay's parts, or an image
// and its secret archive, one after the other): held in memory, in one
// write; from files, by sendfile(2) (http.ServeContent would copy them
// through a buffer, since the concatenation is no file).
func (s *Server) sendBody(w http.ResponseWriter, r *http.Request, req *request, sent string, body *overlay.Body) {
	// The header's values share one array: one allocation, not one per
	// field. The names are canonical already.
	h := w.Header()
	v := [...]string{"application/octet-stream", `"` + body.ETag + `"`, body.LastModified(), "bytes", body.SHA256, ""}
	vals := v[:]
	h["Etag"] = vals[1:2:2]
	h["Last-Modified"] = vals[2:3:3]
	h["Accept-Ranges"] = vals[3:4:4]
	if body.SHA256 != "" {
		h[contract.HeaderChecksum] = vals[4:5:5]
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, body.ETag) {
		w.WriteHeader(http.StatusNotModified)
		s.record(req.node, req.stage, sent, req.addr, 0)
		return
	}
	vals[5] = strconv.FormatInt(body.Size(), 10)
	h["Content-Type"] = vals[0:1:1]
	h["Content-Length"] = vals[5:6:6]
	w.WriteHeader(http.StatusOK)
	cw := &countingWriter{ResponseWriter: w}
	if r.Method != http.MethodHead {
		if err := body.Send(cw); err != nil {
			s.log.Warn("sending an artifact was cut short", "node", req.node, "stage", req.stage, "addr", req.addr, "err", err)
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
