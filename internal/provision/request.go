package provision

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
)

// Stages as status reports them (the contract's names).
const (
	stageIPXE    = contract.StageIPXE
	stageKernel  = contract.StageKernel
	stageImage   = contract.StageImage
	stageSystem  = contract.StageSystem
	stageRuntime = contract.StageRuntime
	// stageDHCP is recorded by the embedded DHCP server (RecordStage).
	stageDHCP = contract.StageDHCP
)

// What status records as sent when a request fails.
const (
	sentBadRequest = contract.SentBadRequest
	sentNotFound   = contract.SentNotFound
	sentBadAsset   = contract.SentBadAsset
)

// request is a parsed provisioning request.
type request struct {
	stage  string
	hwaddr string // normalized; "" when the node could not be identified
	node   string // "" when no node has hwaddr
	format compress.Format
	addr   string // client IP
	st     *state
	plan   *plan  // the node's boot plan in st; nil when node is ""
	proof  string // how the request proved it is the node; "" if not
}

// queryValue is r.URL.Query().Get(key) without parsing an empty query.
func queryValue(r *http.Request, key string) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get(key)
}

func clientIP(r *http.Request) (ip string, port string) {
	host, port, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr, ""
	}
	return host, port
}

// procARP looks ip up in the kernel's IPv4 ARP table.
func procARP(ip string) string {
	f, err := os.Open("/proc/net/arp")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// IP address, HW type, Flags, HW address, Mask, Device
		fields := strings.Fields(sc.Text())
		if len(fields) >= 4 && fields[0] == ip && fields[3] != "00:00:00:00:00:00" {
			return fields[3]
		}
	}
	return ""
}

// fail answers a failed request and records it for the node, if known.
func (s *Server) fail(w http.ResponseWriter, req *request, code int, sent, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.log.Warn("provision request failed", "stage", req.stage, "node", req.node, "hwaddr", req.hwaddr,
		"addr", req.addr, "code", code, "err", msg)
	if req.node != "" {
		s.record(req.node, req.stage, sent, req.addr, 0)
	} else {
		s.recordUnknown(req.hwaddr, req.stage, sent, req.addr)
	}
	http.Error(w, msg, code)
}

// stageHandler identifies the node, checks the request and serves stage.
func (s *Server) stageHandler(stage string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ip, port := clientIP(r)
		req := &request{stage: stage, addr: ip, st: s.state.Load()}
		var q url.Values // most requests have no query: no map to make
		if r.URL.RawQuery != "" {
			q = r.URL.Query()
		}
		if stage == stageRuntime && req.st.cfg.Warewulf.TLS && r.TLS == nil {
			s.fail(w, req, http.StatusForbidden, sentBadRequest,
				"the runtime overlay is served only over HTTPS on port %d (warewulf: tls)", req.st.cfg.Warewulf.TLSPort)
			return
		}
		if stage == stageRuntime && req.st.cfg.Warewulf.Secure {
			if p, err := parsePort(port); err != nil || p >= 1024 {
				s.fail(w, req, http.StatusUnauthorized, sentBadRequest,
					"the runtime overlay is served only to a privileged source port (warewulf: secure) but the request came from port %s", port)
				return
			}
		}
		wwid := r.PathValue("wwid")
		if wwid == "" {
			wwid = q.Get(contract.QueryWWID)
		}
		if wwid == "" {
			wwid = s.arp(ip)
			if wwid == "" {
				s.fail(w, req, http.StatusBadRequest, sentBadRequest, "no hardware address in the request and none in the ARP table for %s", ip)
				return
			}
		}
		hw, err := naming.ParseMAC(wwid)
		if err != nil {
			s.fail(w, req, http.StatusBadRequest, sentBadRequest, "%v", err)
			return
		}
		req.hwaddr = hw
		format, err := compress.ParseFormat(q.Get(contract.QueryCompress))
		if err != nil {
			s.fail(w, req, http.StatusBadRequest, sentBadRequest, "%v", err)
			return
		}
		req.format = format
		req.node = req.st.byMAC[hw]
		if req.node == "" {
			name, st, err := s.discover(r.Context(), hw)
			if err != nil {
				s.log.Error("discovery failed", "hwaddr", hw, "err", err)
			} else if name != "" {
				req.node, req.st = name, st
			}
		}
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.Debug("provision request", "stage", stage, "hwaddr", hw, "node", req.node, "addr", r.RemoteAddr,
				"uuid", q.Get(contract.QueryUUID), "compress", string(format))
		}
		if req.node == "" {
			if stage == stageIPXE {
				s.serveUnconfigured(w, r, req)
				return
			}
			if stage == stageGrub {
				s.serveGrubUnknown(w, req)
				return
			}
			s.fail(w, req, http.StatusNotFound, sentNotFound, "no node has hardware address %s", hw)
			return
		}
		req.plan = req.st.plans[req.node]
		v := req.plan.node
		if v.AssetKey != "" && q.Get(contract.QueryAssetKey) != v.AssetKey {
			s.fail(w, req, http.StatusUnauthorized, sentBadAsset, "wrong asset key for node %s", req.node)
			return
		}
		req.proof = s.proof(r, req, v, port)
		switch stage {
		case stageIPXE:
			s.serveIPXE(w, r, req)
		case stageGrub:
			s.serveGrub(w, r, req)
		case stageKernel:
			s.serveKernel(w, r, req)
		case stageInitramfs:
			s.serveInitramfs(w, r, req)
		case stageImage:
			s.serveImage(w, r, req)
		case stageSystem, stageRuntime:
			s.serveOverlay(w, r, req)
		}
	}
}

func parsePort(s string) (int, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q: %w", s, err)
	}
	return int(p), nil
}

// discover gives hw to the first discoverable node, sorted by cluster
// then node name, and reloads. It returns "" when no node is
// discoverable. The choice is made under the store's lock, so two
// unknown addresses never get the same node.
func (s *Server) discover(ctx context.Context, hw string) (string, *state, error) {
	st := s.state.Load()
	found := false
	for _, v := range st.nodes {
		if v.Discoverable {
			found = true
			break
		}
	}
	if !found {
		return "", nil, nil
	}
	var chosen string
	_, err := s.o.Nodes.Update(ctx, func(inv *inventory.Inventory) error {
		chosen = inv.Discover(hw)
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("discover %s: %w", hw, err)
	}
	if chosen == "" {
		return "", nil, nil
	}
	s.log.Info("discovered node", "node", chosen, "hwaddr", hw)
	if err := s.Reload(); err != nil {
		return "", nil, err
	}
	st = s.state.Load()
	if st.byMAC[hw] != chosen {
		return "", nil, errors.New("discovered node not found after reload")
	}
	return chosen, st, nil
}
