package provision

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/template"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/tftp"
)

// GrubTemplate is the file name of the per-node GRUB template, in the
// site's directory (<sysconfdir>/warewulf/grub, as Warewulf's) or built in.
const GrubTemplate = "grub.cfg.ww"

const stageGrub = contract.StageGrub

// grubTemplate is one load of the GRUB template: the template, or why it
// cannot be used, which every node booting GRUB is then told.
type grubTemplate struct {
	t   *template.Template
	err error
}

// loadGrubTemplate reads the site's grub.cfg.ww, else the built-in one.
func (s *Server) loadGrubTemplate() grubTemplate {
	var data []byte
	err := fs.ErrNotExist
	source := "built-in " + GrubTemplate
	if s.o.GrubTemplates != nil {
		data, err = fs.ReadFile(s.o.GrubTemplates, GrubTemplate)
		source = "site " + GrubTemplate
	}
	if errors.Is(err, fs.ErrNotExist) {
		data, err = embedded.ReadFile("templates/" + GrubTemplate)
		source = "built-in " + GrubTemplate
	}
	if err != nil {
		return grubTemplate{err: fmt.Errorf("%s: %w", source, err)}
	}
	t, err := template.New(GrubTemplate).Option("missingkey=zero").Funcs(overlay.PlainFuncs()).Parse(string(data))
	if err != nil {
		return grubTemplate{err: fmt.Errorf("%s: %w", source, err)}
	}
	return grubTemplate{t: t}
}

// grubQuote quotes s as one GRUB word: single quotes take everything
// literally, and a single quote is closed, escaped and reopened.
func grubQuote(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// grubError is a GRUB script that tells the node why it cannot boot and
// restarts it after a while rather than leaving it at a prompt.
func grubError(msg string) []byte {
	return []byte("echo " + grubQuote("wwboot: "+msg) + "\necho 'Rebooting in 30 seconds...'\nsleep 30\nreboot\n")
}

// writeGrub sends a GRUB script and records the GRUB stage with sent.
func (s *Server) writeGrub(w http.ResponseWriter, req *request, body []byte, sent string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	n, _ := w.Write(body)
	if req.node != "" {
		s.record(req.node, req.stage, sent, req.addr, int64(n))
	} else {
		s.recordUnknown(req.hwaddr, req.stage, sent, req.addr)
	}
}

// serveGrub renders the node's GRUB configuration. A template that does
// not load or render is logged as an error and the node is told why in
// a script that restarts it: GRUB shows an HTTP error only briefly and
// then waits at its menu.
func (s *Server) serveGrub(w http.ResponseWriter, r *http.Request, req *request) {
	gt := req.st.grub
	if gt.err != nil {
		s.log.Error("GRUB template does not load", "node", req.node, "err", gt.err)
		s.writeGrub(w, req, grubError("the GRUB template does not load: "+gt.err.Error()), contract.SentBadRequest)
		return
	}
	d := s.nodeData(req)
	d.Transport = "http"
	if r.Header.Get(contract.HeaderVia) == "tftp" {
		d.Transport = "tftp"
	}
	d.Ipaddr, d.Port = s.authority(r, req.st.cfg)
	d.Authority = net.JoinHostPort(d.Ipaddr, d.Port)
	d.Hwaddr = req.hwaddr
	var buf bytes.Buffer
	if err := gt.t.Execute(&buf, d); err != nil {
		s.log.Error("GRUB template does not render", "node", req.node, "err", err)
		s.writeGrub(w, req, grubError(fmt.Sprintf("the GRUB template does not render for node %s: %v", req.node, err)), contract.SentBadRequest)
		return
	}
	s.writeGrub(w, req, buf.Bytes(), GrubTemplate)
}

// serveGrubUnknown answers GRUB for a hardware address no node has.
func (s *Server) serveGrubUnknown(w http.ResponseWriter, req *request) {
	s.writeGrub(w, req, grubError("no node has hardware address "+req.hwaddr+"; add it with wwctl node set --hwaddr"), "unconfigured")
}

// grubLoaderNames are the loaders GRUB's UEFI HTTP boot asks /efiboot/
// for, and the loader each is (tftp.FindLoader's names).
func grubLoaderNames() map[string]string {
	return map[string]string{
		"shim.efi": "shimx64.efi", "shimx64.efi": "shimx64.efi", "grubx64.efi": "grubx64.efi", "grub.efi": "grubx64.efi",
		"shimaa64.efi": "shimaa64.efi", "grubaa64.efi": "grubaa64.efi",
		"shimia32.efi": "shimia32.efi", "grubia32.efi": "grubia32.efi",
	}
}

// efiNode is the node asking for /efiboot/<file>, by the wwid query or
// the ARP table, and its plan; "" and nil when it is not known.
func (s *Server) efiNode(r *http.Request) (string, *plan) {
	st := s.state.Load()
	wwid := r.URL.Query().Get(contract.QueryWWID)
	if wwid == "" {
		ip, _ := clientIP(r)
		wwid = s.arp(ip)
	}
	hw, err := naming.ParseMAC(wwid)
	if err != nil {
		return "", nil
	}
	name := st.byMAC[hw]
	return name, st.plans[name]
}

// imageLoader returns the loader name of p's image when that image has
// both its shim and its GRUB: shim verifies GRUB against its own
// vendor's key, so the image's shim with the host's GRUB would not boot.
func (s *Server) imageLoader(p *plan, name string) (string, bool) {
	loader, ok := grubLoaderNames()[name]
	if !ok || p == nil || p.root == "" {
		return "", false
	}
	shim, grub := "shimx64.efi", "grubx64.efi"
	switch {
	case strings.HasSuffix(loader, "aa64.efi"):
		shim, grub = "shimaa64.efi", "grubaa64.efi"
	case strings.HasSuffix(loader, "ia32.efi"):
		shim, grub = "shimia32.efi", "grubia32.efi"
	}
	sf, okShim := tftp.FindLoader(p.root, shim)
	gf, okGrub := tftp.FindLoader(p.root, grub)
	if !okShim || !okGrub {
		return "", false
	}
	if strings.HasPrefix(loader, "shim") {
		return sf, true
	}
	return gf, true
}

// serveEFIGrubConfig sends tftp.GrubConfig to GRUB booted by UEFI HTTP
// boot, which reads grub.cfg from where it came from.
func (s *Server) serveEFIGrubConfig(w http.ResponseWriter, r *http.Request) {
	ip, port := s.authority(r, s.state.Load().cfg)
	body := tftp.GrubConfig(net.JoinHostPort(ip, port), false)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Cache-Control", "no-store")
	n, _ := w.Write(body)
	if node, _ := s.efiNode(r); node != "" {
		addr, _ := clientIP(r)
		s.record(node, stageEFIBoot, "grub.cfg", addr, int64(n))
	}
}

// openEFIBoot opens /efiboot/<name>: p's image's loader, else the host's
// file of that name.
func (s *Server) openEFIBoot(p *plan, name string) (*os.File, error) {
	if f, ok := s.imageLoader(p, name); ok {
		return os.Open(f)
	}
	f, ok := s.o.EFIBoot[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return os.Open(f)
}
