package provision

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/image"
)

// Stages of the two-stage and UEFI HTTP boot.
const (
	stageInitramfs = contract.StageInitramfs
	stageEFIBoot   = contract.StageEFIBoot
)

// serveInitramfs sends the initramfs of two-stage boot for the kernel
// the node boots: the image's bootstrap (wwctl image bootstrap: the
// stage-one program with the image's modules and firmware) when one is
// built for that kernel, else the image's own initramfs (dracut's, for
// the dracut method, which asks for it with own=1). The bootstrap's
// sha256 is its ETag and X-Checksum-Sha256.
func (s *Server) serveInitramfs(w http.ResponseWriter, r *http.Request, req *request) {
	root, img, k, ok := s.nodeKernel(w, req)
	if !ok {
		return
	}
	if own, _ := strconv.ParseBool(queryValue(r, contract.QueryOwn)); !own {
		if s.serveBootstrap(w, r, req, k.Version) {
			return
		}
	}
	p, err := image.FindInitramfs(root, k.Version)
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q: no bootstrap (wwctl image bootstrap %s) and %v", img, img, err)
		return
	}
	f, rel, err := image.OpenIn(root, p, "")
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q initramfs %s: %v", img, p, err)
		return
	}
	defer f.Close()
	if !s.serveFile(w, r, req, f, path.Base(rel), "") {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "image %q initramfs %s is not a regular file", img, "/"+rel)
	}
}

// serveBootstrap sends the image's bootstrap for kernel version, if one
// is built (the plan's preferred form first), and reports whether it
// did.
func (s *Server) serveBootstrap(w http.ResponseWriter, r *http.Request, req *request, version string) bool {
	for _, p := range req.plan.bootstraps(version) {
		sum, err := image.ReadSHA256(p)
		if err != nil {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		defer f.Close()
		w.Header().Set(contract.HeaderChecksum, sum)
		if s.serveFile(w, r, req, f, filepath.Base(p), sum) {
			return true
		}
		w.Header().Del(contract.HeaderChecksum)
	}
	return false
}

// nodeKernel finds the kernel req's node boots, as its plan says. On
// failure it has answered.
func (s *Server) nodeKernel(w http.ResponseWriter, req *request) (root, img string, k *image.Kernel, ok bool) {
	p := req.plan
	k, err := p.kernel()
	if errors.Is(err, errNoImage) {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "node %s has no image", req.node)
		return "", "", nil, false
	}
	if err != nil {
		s.fail(w, req, http.StatusNotFound, sentNotFound, "%v", err)
		return "", "", nil, false
	}
	return p.root, p.image, k, true
}

// handleEFIBoot sends a UEFI HTTP-boot client, to which the DHCP server
// gave http://SERVER:PORT/efiboot/<name>, what it asks for: an iPXE EFI
// binary, or shim and then GRUB (the asking node's image's when it has
// both, else this server's: imageLoader), and GRUB's first grub.cfg,
// rendered for this server. Nothing here is secret, and only the
// loaders' choice needs to know the node.
func (s *Server) handleEFIBoot(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "grub.cfg" {
		s.serveEFIGrubConfig(w, r)
		return
	}
	if strings.ContainsAny(name, `/\`) {
		http.Error(w, fmt.Sprintf("no boot loader %q here", name), http.StatusNotFound)
		return
	}
	node, p := s.efiNode(r)
	f, err := s.openEFIBoot(p, name)
	if errors.Is(err, fs.ErrNotExist) {
		http.Error(w, fmt.Sprintf("no boot loader %q here", name), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("boot loader %q: %v", name, err), http.StatusNotFound)
		return
	}
	defer f.Close()
	ip, _ := clientIP(r)
	if !s.serveFile(w, r, &request{stage: stageEFIBoot, addr: ip, node: node}, f, name, "") {
		http.Error(w, fmt.Sprintf("boot loader %q is not a regular file", name), http.StatusNotFound)
	}
}
