package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// DefaultSecurePort is the source port wwclient binds when the server is
// in secure mode and wwclient.port is not set, as Warewulf's does.
const DefaultSecurePort = 987

// Config is what wwclient needs to reach its server and identify itself.
type Config struct {
	// Server is the server's address (IPv4, IPv6 or a name).
	Server string
	// Port is the server's HTTP port; TLSPort its HTTPS port, used when
	// TLS is on.
	Port, TLSPort int
	TLS           bool
	// Secure makes wwclient connect from a privileged source port:
	// SourcePort when set, else DefaultSecurePort.
	Secure     bool
	SourcePort int
	// Interval is the time between two contacts.
	Interval time.Duration
	// WWID is the hardware address the server knows the node by.
	WWID     string
	AssetKey string
	UUID     string
	// CACert is the PEM file of the server's certificate (TLS).
	CACert string
}

// sourcePort is the local port to bind, 0 for an ephemeral one.
func (c *Config) sourcePort() int {
	if c.SourcePort > 0 {
		return c.SourcePort
	}
	if c.Secure {
		return DefaultSecurePort
	}
	return 0
}

// parseShellVars reads KEY=value lines as a POSIX shell would for the
// simple files the overlays render: optional "export", values bare or in
// single or double quotes ('\” inside single quotes is a quote), "#"
// comments. Anything else is an error naming the line.
func parseShellVars(data []byte, name string) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, raw, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t\"'") {
			return nil, fmt.Errorf("%s:%d: expected KEY=value", name, n)
		}
		val, err := unquote(raw)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", name, n, key, err)
		}
		vars[key] = val
	}
	return vars, sc.Err()
}

func unquote(s string) (string, error) {
	var b strings.Builder
	for len(s) > 0 {
		switch s[0] {
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated single quote")
			}
			b.WriteString(s[1 : 1+end])
			s = s[2+end:]
		case '"':
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return "", errors.New("unterminated double quote")
			}
			s = s[i+1:]
		case '\\':
			if len(s) > 1 {
				b.WriteByte(s[1])
				s = s[2:]
			} else {
				s = s[1:]
			}
		case ' ', '\t':
			if rest := strings.TrimSpace(s); rest != "" && !strings.HasPrefix(rest, "#") {
				return "", errors.New("unquoted space in value")
			}
			s = ""
		default:
			b.WriteByte(s[0])
			s = s[1:]
		}
	}
	return b.String(), nil
}

// Sources says where LoadConfig looks besides the configuration file.
type Sources struct {
	// Getenv overrides any key of the file (systemd reads
	// /etc/default/wwclient into the environment, as for Warewulf's
	// WW_IPADDR). Nil reads nothing.
	Getenv func(string) string
	// Cmdline is the kernel command line file whose wwid= names the node
	// (/proc/cmdline); SysClassNet resolves wwid=[iface]
	// (/sys/class/net); DMIDir holds chassis_asset_tag and product_uuid
	// (/sys/class/dmi/id).
	Cmdline, SysClassNet, DMIDir string
}

// LoadConfig reads the file the wwclient overlay renders
// (/warewulf/wwclient.conf): WW_IPADDR, WW_IPADDR6, WW_PORT, WW_TLS,
// WW_TLSPORT, WW_TLSCERT, WW_SECURE, WW_CLIENTPORT, WW_INTERVAL and WWID.
// The node's identity is the kernel's wwid= argument (what the node
// booted with) and else WWID; its asset key and UUID come from SMBIOS.
func LoadConfig(path string, src Sources) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	vars, err := parseShellVars(data, path)
	if err != nil {
		return nil, err
	}
	get := func(k string) string {
		if src.Getenv != nil {
			if v := src.Getenv(k); v != "" {
				return v
			}
		}
		return vars[k]
	}
	c := &Config{Server: get("WW_IPADDR"), CACert: get("WW_TLSCERT")}
	if c.Server == "" {
		c.Server = get("WW_IPADDR6")
	}
	if c.Server == "" {
		return nil, fmt.Errorf("%s: no server address (WW_IPADDR or WW_IPADDR6)", path)
	}
	// The server's ipaddr may be written with its prefix length.
	if p, err := netip.ParsePrefix(c.Server); err == nil {
		c.Server = p.Addr().String()
	}
	interval := 0
	ints := []struct {
		key      string
		dst      *int
		def, min int
	}{
		{"WW_PORT", &c.Port, 9873, 1},
		{"WW_TLSPORT", &c.TLSPort, 9874, 1},
		{"WW_CLIENTPORT", &c.SourcePort, 0, 0},
		{"WW_INTERVAL", &interval, 60, 0},
	}
	for _, f := range ints {
		*f.dst = f.def
		if v := get(f.key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < f.min || (f.dst != &interval && n > 65535) {
				return nil, fmt.Errorf("%s: %s=%q is not a valid number", path, f.key, v)
			}
			*f.dst = n
		}
	}
	if interval == 0 {
		interval = 300 // Warewulf's fallback for an unset interval
	}
	c.Interval = time.Duration(interval) * time.Second
	for _, f := range []struct {
		key string
		dst *bool
	}{{"WW_TLS", &c.TLS}, {"WW_SECURE", &c.Secure}} {
		if v := get(f.key); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s=%q is not true or false", path, f.key, v)
			}
			*f.dst = b
		}
	}
	c.WWID = cmdlineWWID(src.Cmdline, src.SysClassNet)
	if c.WWID == "" {
		c.WWID = get("WWID")
	}
	if c.WWID == "" {
		return nil, fmt.Errorf("no node identity: no wwid= in %s and no WWID in %s", src.Cmdline, path)
	}
	if src.DMIDir != "" {
		c.AssetKey = readDMI(filepath.Join(src.DMIDir, "chassis_asset_tag"))
		c.UUID = readDMI(filepath.Join(src.DMIDir, "product_uuid"))
	}
	return c, nil
}

// cmdlineWWID returns the wwid= kernel argument; "[iface]" names the
// interface whose hardware address it is.
func cmdlineWWID(cmdline, sysClassNet string) string {
	if cmdline == "" {
		return ""
	}
	data, err := os.ReadFile(cmdline)
	if err != nil {
		return ""
	}
	for _, arg := range strings.Fields(string(data)) {
		v, ok := strings.CutPrefix(arg, contract.ArgWWID+"=")
		if !ok {
			continue
		}
		if iface, ok := strings.CutPrefix(v, "["); ok {
			iface = strings.TrimSuffix(iface, "]")
			if iface == "" || strings.ContainsAny(iface, "/.") {
				return ""
			}
			hw, err := os.ReadFile(filepath.Join(sysClassNet, iface, "address"))
			if err != nil {
				return ""
			}
			v = strings.TrimSpace(string(hw))
		}
		if _, err := net.ParseMAC(v); err == nil {
			return v
		}
	}
	return ""
}

// readDMI reads one SMBIOS string; unreadable or placeholder values are "".
func readDMI(p string) string {
	data, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(data))
	switch strings.ToLower(v) {
	case "not specified", "default string", "to be filled by o.e.m.", "none":
		return ""
	}
	return v
}
