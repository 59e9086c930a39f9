package provision

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/wwboot/wwboot/internal/image"
)

// Stages of the two-stage and UEFI HTTP boot.
const (
	stageInitramfs = "INITRAMFS"
	stageEFIBoot   = "EFI"
)

// serveInitramfs sends the image's own initramfs made for the kernel the
// node boots, for two-stage boot (the dracut methods of the iPXE menu).
func (s *Server) serveInitramfs(w http.ResponseWriter, r *http.Request, req *request) {
	root, img, k, ok := s.nodeKernel(w, req)
	if !ok {
		return
	}
	p, err := image.FindInitramfs(root, k.Version)
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q: %v", img, err)
		return
	}
	f, rel, err := image.OpenIn(root, p, "")
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q initramfs %s: %v", img, p, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q initramfs %s is not a regular file", img, "/"+rel)
		return
	}
	s.serveContent(w, r, req, path.Base(rel), fmt.Sprintf("%x-%x", st.Size(), st.ModTime().UnixNano()), st.ModTime(), f)
}

// nodeKernel finds the kernel req's node boots: the version its kernel
// field names, else the image's default. On failure it has answered.
func (s *Server) nodeKernel(w http.ResponseWriter, req *request) (root, img string, k *image.Kernel, ok bool) {
	m := req.st.nodes[req.node]
	img = deref(m.ImageName)
	if img == "" || !image.ValidName(img) {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "node %s has no image", req.node)
		return "", "", nil, false
	}
	root = s.o.Images.RootFS(img)
	kernels, err := image.Kernels(root)
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q: %v", img, err)
		return "", "", nil, false
	}
	version := ""
	if m.Kernel != nil {
		version = deref(m.Kernel.Version)
	}
	k, err = image.FindKernel(kernels, version)
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q: %v", img, err)
		return "", "", nil, false
	}
	return root, img, k, true
}

// handleEFIBoot sends an iPXE EFI binary to a UEFI HTTP-boot client, to
// which the DHCP server gave http://SERVER:PORT/efiboot/<name>. The
// binaries are public: no node is identified.
func (s *Server) handleEFIBoot(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	p, ok := s.o.EFIBoot[name]
	if !ok || strings.ContainsAny(name, `/\`) {
		http.Error(w, fmt.Sprintf("no iPXE binary %q here", name), http.StatusNotFound)
		return
	}
	f, err := os.Open(p)
	if err != nil {
		http.Error(w, fmt.Sprintf("iPXE binary %q: %v", name, err), http.StatusNotFound)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, fmt.Sprintf("iPXE binary %q is not a regular file", name), http.StatusNotFound)
		return
	}
	ip, _ := clientIP(r)
	s.serveContent(w, r, &request{stage: stageEFIBoot, addr: ip}, name, fmt.Sprintf("%x-%x", st.Size(), st.ModTime().UnixNano()), st.ModTime(), f)
}
