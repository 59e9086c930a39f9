package provision

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"text/template"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/overlay"
)

//go:embed templates/*.ipxe templates/*.ww
var embedded embed.FS

// ipxeData is what an iPXE template sees: Warewulf 4.7's fields, and
// ours (Token, TLSPort).
type ipxeData struct {
	// Message and WaitTime are Warewulf's, always empty there too.
	Message   string
	WaitTime  string
	Id        string
	Hostname  string
	Fqdn      string
	Cluster   string
	ImageName string
	Ipxe      string
	Hwaddr    string
	Ipaddr    string
	// Ipaddr6 is the server's IPv6 address (warewulf.conf ipaddr6,
	// without its prefix), or "".
	Ipaddr6       string
	Port          string
	Authority     string // ip:port of this server
	KernelArgs    string
	KernelVersion string
	Root          string
	Tags          map[string]string
	// NetDevs are the node's network devices as overlay templates see
	// them: strings, "" when unset.
	NetDevs map[string]*overlay.NetDev
	// Token proves later requests come from the node; "" when the
	// script's request did not come from the node (see issueToken).
	Token string
	// TLS is warewulf.tls: the runtime overlay comes only over HTTPS,
	// which iPXE cannot be trusted to speak, so wwclient fetches it.
	TLS     bool
	TLSPort string
	// Transport is how the GRUB configuration was asked for, "http" or
	// "tftp" (GRUB templates only; "" for iPXE).
	Transport string
}

// loadTemplate reads <name>.ipxe from the site templates, else from the
// embedded ones.
func (s *Server) loadTemplate(name string) (*template.Template, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, errors.New("not a template name")
	}
	file := name + ".ipxe"
	var data []byte
	var err error = fs.ErrNotExist
	if s.o.Templates != nil {
		data, err = fs.ReadFile(s.o.Templates, file)
	}
	if errors.Is(err, fs.ErrNotExist) {
		data, err = embedded.ReadFile("templates/" + file)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no %s in the site templates or the built-in ones", file)
		}
	}
	if err != nil {
		return nil, err
	}
	t, err := template.New(file).Option("missingkey=zero").Funcs(overlay.PlainFuncs()).Parse(string(data))
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Server) authority(r *http.Request, cfg *config.Config) (ip, port string) {
	port = strconv.Itoa(cfg.Warewulf.Port)
	ip = cfg.Ipaddr
	if ip == "" {
		// Answer with the address the node reached us at.
		if h, _, err := net.SplitHostPort(r.Host); err == nil {
			ip = h
		} else {
			ip = r.Host
		}
	}
	return ip, port
}

func (s *Server) renderIPXE(w http.ResponseWriter, r *http.Request, req *request, name string, t *template.Template, d ipxeData) {
	if t == nil {
		s.fail(w, req, http.StatusInternalServerError, sentNotFound, "ipxe template %q is not loaded", name)
		return
	}
	d.Ipaddr, d.Port = s.authority(r, req.st.cfg)
	d.Authority = net.JoinHostPort(d.Ipaddr, d.Port)
	if d.Ipaddr6 == "" {
		if p, err := netip.ParsePrefix(req.st.cfg.Ipaddr6); err == nil {
			d.Ipaddr6 = p.Addr().String()
		} else if a, err := netip.ParseAddr(req.st.cfg.Ipaddr6); err == nil {
			d.Ipaddr6 = a.String()
		}
	}
	d.Hwaddr = req.hwaddr
	var buf bytes.Buffer
	if err := t.Execute(&buf, d); err != nil {
		s.fail(w, req, http.StatusInternalServerError, sentBadRequest, "render ipxe template %q: %v", name, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.Header().Set("Cache-Control", "no-store")
	n, _ := w.Write(buf.Bytes())
	if req.node != "" {
		s.record(req.node, req.stage, name+".ipxe", req.addr, int64(n))
	}
}

func (s *Server) serveUnconfigured(w http.ResponseWriter, r *http.Request, req *request) {
	s.renderIPXE(w, r, req, "unconfigured", req.st.ipxe["unconfigured"], ipxeData{})
}

// serveIPXE renders the node's iPXE template with what its plan says.
func (s *Server) serveIPXE(w http.ResponseWriter, r *http.Request, req *request) {
	s.renderIPXE(w, r, req, req.plan.ipxe, req.plan.template, s.nodeData(req))
}

// nodeData is what the iPXE and GRUB templates see of req's node, but
// for the server's address (renderIPXE, serveGrub).
func (s *Server) nodeData(req *request) ipxeData {
	p := req.plan
	v := p.node
	d := ipxeData{
		Id:            v.Name,
		Hostname:      v.Name,
		Fqdn:          v.Name,
		Cluster:       v.Cluster,
		ImageName:     v.Image,
		Ipxe:          p.ipxe,
		Root:          v.Root,
		Tags:          v.Tags,
		NetDevs:       map[string]*overlay.NetDev{},
		KernelArgs:    p.kernelArgs,
		KernelVersion: p.ipxeKernelVersion(),
	}
	if d.Tags == nil {
		d.Tags = map[string]string{}
	}
	if n := req.st.snap.Node(v.Name); n != nil {
		d.NetDevs = n.NetDevs
	}
	d.Token = s.issueToken(req, v)
	d.TLS = req.st.cfg.Warewulf.TLS
	d.TLSPort = strconv.Itoa(req.st.cfg.Warewulf.TLSPort)
	if a, err := netip.ParsePrefix(req.st.cfg.Ipaddr6); err == nil {
		d.Ipaddr6 = a.Addr().String()
	} else if a, err := netip.ParseAddr(req.st.cfg.Ipaddr6); err == nil {
		d.Ipaddr6 = a.String()
	}
	return d
}
