package provision

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/overlay"
)

// serveImage sends the node's image archive. An image with secret files
// (files others may not read, built into a secret archive beside the
// public one) is sent whole only to a request that proves it comes from
// the node: the public archive followed by the secret one, which the
// kernel and stage one unpack in turn. Any other request gets the public
// archive with X-Wwboot-Withheld, so a boot never fails for want of a
// proof. Each variant has its own ETag and X-Checksum-Sha256, the sha256
// of exactly the bytes it is, recorded when the image was built.
func (s *Server) serveImage(w http.ResponseWriter, r *http.Request, req *request) {
	img, out := req.plan.image, req.plan.archive
	if img == "" {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "node %s has no image", req.node)
		return
	}
	p := out + ".img" + req.format.Ext()
	f, err := os.Open(p)
	if err != nil {
		if req.format == compress.None {
			for _, alt := range []compress.Format{compress.Gzip, compress.Zstd} {
				if _, err := os.Stat(out + ".img" + alt.Ext()); err == nil {
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
	sf, err := os.Open(image.SecretArchive(out, req.format))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// The image has no secret files.
	case err != nil:
		s.log.Error("image secret files withheld: their archive cannot be opened", "node", req.node, "image", img, "err", err)
		w.Header().Set(contract.HeaderWithheld, contract.WithheldSecrets)
	case req.proof == proofNone:
		sf.Close()
		s.log.Warn("image secret files withheld: the request carried no token or asset key and did not come from a privileged port of the node's address",
			"node", req.node, "image", img, "stage", req.stage, "addr", req.addr)
		w.Header().Set(contract.HeaderWithheld, contract.WithheldSecrets)
	default:
		defer sf.Close()
		if s.serveImageWithSecrets(w, r, req, img, out, f, sf, filepath.Base(p)) {
			return
		}
		w.Header().Set(contract.HeaderWithheld, contract.WithheldSecrets)
	}
	// The sha256 is the ETag, and stage one of two-stage boot checks
	// what it unpacked against it.
	sum, _ := image.ReadSHA256(p)
	if sum != "" {
		w.Header().Set(contract.HeaderChecksum, sum)
	}
	if !s.serveFile(w, r, req, f, filepath.Base(p), sum) {
		w.Header().Del(contract.HeaderChecksum)
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q archive %s is not a regular file", img, p)
	}
}

// serveImageWithSecrets sends the public archive f followed by the
// secret archive sf as one body, with Range and ETag as for a file, and
// reports whether it did: when the sum of both is not recorded, or
// either is not a regular file, it sends nothing and logs why.
func (s *Server) serveImageWithSecrets(w http.ResponseWriter, r *http.Request, req *request, img, out string, f, sf *os.File, sent string) bool {
	both, err := image.ReadSecretSHA256(out, req.format)
	if err != nil {
		s.log.Error("image secret files withheld: rebuild the image (wwctl image build --force)", "node", req.node, "image", img, "err", err)
		return false
	}
	body, err := overlay.JoinFiles(both, both, f, sf)
	if err != nil {
		s.log.Error("image secret files withheld: an archive is not a regular file", "node", req.node, "image", img, "err", err)
		return false
	}
	s.serveBody(w, r, req, sent, body)
	return true
}
