package provision

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/inventory"
)

// How a request proved that it comes from the node it names. Files that
// carry a secret (overlay files others may not read) are sent only to a
// proven request; everything else goes to whoever knows the MAC, as in
// Warewulf, so that a boot never depends on the proof.
const (
	proofNone       = ""
	proofAssetKey   = "asset key"
	proofToken      = "token"
	proofPrivileged = "privileged port"
)

// tokenWindow is how long a node token issued in an iPXE script stays
// valid: at least this long, at most twice this long.
const tokenWindow = time.Hour

// LoadTokenKey reads the key node tokens are derived from, creating it
// (32 random bytes, mode 0600) when the file does not exist, so that
// tokens issued before a daemon restart stay valid after it.
func LoadTokenKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(data)))
		if derr != nil || len(key) < 16 {
			return nil, fmt.Errorf("token key %s: not a hexadecimal key of at least 16 bytes; remove it to have a new one made", path)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("token key: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("token key: %w", err)
	}
	return key, nil
}

// token is node's token for the window holding t.
func (s *Server) token(node string, t time.Time) string {
	mac := hmac.New(sha256.New, s.tokenKey)
	fmt.Fprintf(mac, "wwboot node token\x00%s\x00%d", node, t.Unix()/int64(tokenWindow/time.Second))
	return hex.EncodeToString(mac.Sum(nil)[:16])
}

// validToken reports whether tok is node's token for this window or the
// previous one.
func (s *Server) validToken(node, tok string) bool {
	now := s.now()
	for _, t := range []time.Time{now, now.Add(-tokenWindow)} {
		if hmac.Equal([]byte(tok), []byte(s.token(node, t))) {
			return true
		}
	}
	return false
}

// fromNode reports whether addr is v's address: one nodes.conf gives it,
// or, when it has none there, the one the embedded DHCP server last gave
// it. A node with neither has no address to come from.
func (s *Server) fromNode(addr string, v *inventory.NodeView) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	addrs := v.Addrs()
	if len(addrs) == 0 {
		s.statusMu.Lock()
		leased := s.leased[v.Name]
		s.statusMu.Unlock()
		return leased != nil && leased.Equal(ip.AsSlice())
	}
	return slices.Contains(addrs, ip)
}

// proof works out how r proved it comes from node v (whose asset key, if
// any, the caller has already checked).
func (s *Server) proof(r *http.Request, req *request, v *inventory.NodeView, port string) string {
	if v.AssetKey != "" {
		return proofAssetKey
	}
	if tok := queryValue(r, contract.QueryToken); tok != "" && s.validToken(v.Name, tok) {
		return proofToken
	}
	if p, err := parsePort(port); err == nil && p > 0 && p < 1024 {
		// Only root can bind the port, but root on any machine: the
		// address must be the node's too.
		if s.fromNode(req.addr, v) {
			return proofPrivileged
		}
	}
	return proofNone
}

// issueToken returns the token to place in v's iPXE script, or "" when
// the request for the script does not come from the node: the node's
// asset key was given, or the request came from the node's address
// (fromNode).
func (s *Server) issueToken(req *request, v *inventory.NodeView) string {
	if s.fromNode(req.addr, v) || v.AssetKey != "" {
		return s.token(v.Name, s.now())
	}
	return ""
}
