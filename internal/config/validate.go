package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Validate checks a Config, typically one built or changed in code, with the
// same rules Parse applies to a file. The error lists every problem, one per
// line, as "<key>: <problem>".
func (c *Config) Validate() error {
	var errs []error
	problems, _ := c.check(func(string) bool { return true })
	for _, p := range problems {
		errs = append(errs, errors.New(p.text))
	}
	return errors.Join(errs...)
}

// checker collects problems, each tied to the key whose value is wrong,
// and warnings: values Warewulf accepts that only matter to the part of
// the server that uses them, which then refuses or ignores them itself.
type checker struct {
	problems, warnings []problem
}

func (k *checker) warn(key, format string, args ...any) {
	k.warnings = append(k.warnings, problem{key: key, text: key + ": " + fmt.Sprintf(format, args...)})
}

func (k *checker) add(key, format string, args ...any) {
	k.addAt(key, key, format, args...)
}

// addAt reports a problem with key at the line of another key, for a key
// that is missing because of what the other one says.
func (k *checker) addAt(lineKey, key, format string, args ...any) {
	k.problems = append(k.problems, problem{key: lineKey, text: key + ": " + fmt.Sprintf(format, args...)})
}

// check returns every problem in c, and the warnings. isSet reports which
// keys the file gave; a derived path that was not given is not blamed for
// its base's mistake.
func (c *Config) check(isSet func(key string) bool) (problems, warnings []problem) {
	var k checker
	c.checkNetwork(&k)

	k.port("warewulf.port", c.Warewulf.Port, 1)
	k.port("warewulf.tls port", c.Warewulf.TLSPort, 1)
	if c.Warewulf.UpdateInterval < 0 {
		k.add("warewulf.update interval", "%d is negative (0 means wwclient's default of %d s)", c.Warewulf.UpdateInterval, DefaultPollSeconds)
	}
	k.atLeast("warewulf.max connections", c.Warewulf.MaxConnections, 1)
	k.atLeast("warewulf.max connections per client", c.Warewulf.MaxClientConnections, 1)
	k.atLeast("warewulf.idle connections per client", c.Warewulf.IdleClientConnections, 0)
	k.atLeast("warewulf.idle timeout", c.Warewulf.IdleTimeout, 1)
	k.atLeast("api.max failed logins", c.API.MaxFailedLogins, 1)
	k.atLeast("api.failed login window", c.API.FailedLoginWindow, 1)
	for i, s := range c.API.AllowedSubnets {
		if _, err := netip.ParsePrefix(s); err != nil {
			k.add(fmt.Sprintf("api.allowed subnets[%d]", i), "%q is not a CIDR subnet like 10.0.0.0/8", s)
		}
	}

	k.oneOf("dhcp.mode", c.Dhcp.Mode, ModeEmbedded, ModeProxy, ModeExternal)
	if t := c.Dhcp.Template; t != TemplateDefault && t != TemplateStatic {
		// Warewulf's dhcpd.conf template tests for "static" only.
		k.warn("dhcp.template", "%q is not %s or %s; read as %s", t, TemplateDefault, TemplateStatic, TemplateDefault)
	}
	k.atLeast("dhcp.offer hold", c.Dhcp.OfferHold, 1)
	k.atLeast("dhcp.offers per second", c.Dhcp.OffersPerSecond, 1)
	k.atLeast("dhcp.client offers per minute", c.Dhcp.ClientOffersPerMinute, 1)
	k.oneOf("tftp.mode", c.Tftp.Mode, ModeEmbedded, ModeExternal)
	c.checkIpxe(&k)
	k.atLeast("tftp.max transfers", c.Tftp.MaxTransfers, 1)
	k.atLeast("tftp.transfers per client", c.Tftp.TransfersPerClient, 1)
	k.atLeast("tftp.max artifact size", c.Tftp.MaxArtifactMiB, 1)
	if c.Tftp.TransfersPerClient > c.Tftp.MaxTransfers && c.Tftp.MaxTransfers >= 1 {
		k.add("tftp.transfers per client", "%d is more than tftp.max transfers (%d): one client could take every transfer",
			c.Tftp.TransfersPerClient, c.Tftp.MaxTransfers)
	}

	for i, e := range c.Nfs.ExportPaths {
		k.absolute(fmt.Sprintf("nfs.export paths[%d].path", i), e.Path)
	}
	for i, t := range c.SSH.KeyTypes {
		if !slices.Contains(SSHKeyTypes(), t) {
			// Warewulf accepts any; only making keys of it fails.
			k.warn(fmt.Sprintf("ssh.key types[%d]", i), "%q is not one of %s; wwctl configure ssh skips it",
				t, strings.Join(SSHKeyTypes(), ", "))
		}
	}
	for i, m := range c.ImageMounts {
		k.absolute(fmt.Sprintf("image mounts[%d].source", i), m.Source)
		if m.Dest != "" {
			k.absolute(fmt.Sprintf("image mounts[%d].dest", i), m.Dest)
		}
	}
	k.atLeast("image import.max size gib", c.ImageImport.MaxSizeGiB, 1)
	k.atLeast("image import.max entries", c.ImageImport.MaxEntries, 1)
	k.atLeast("image import.max path length", c.ImageImport.MaxPathLength, 1)
	k.atLeast("image import.max depth", c.ImageImport.MaxDepth, 1)
	k.atLeast("ipmi.timeout", c.IPMI.Timeout, 1)
	if c.IPMI.RedfishCA != "" {
		k.absolute("ipmi.redfish ca", c.IPMI.RedfishCA)
		if c.IPMI.RedfishInsecure {
			k.add("ipmi.redfish insecure", "true skips the verification that ipmi.redfish ca (%s) is for: set one of them", c.IPMI.RedfishCA)
		}
	}
	k.port("wwclient.port", c.Wwclient.Port, 0)
	c.checkPaths(&k, isSet)
	return k.problems, k.warnings
}

func (k *checker) port(key string, port, low int) {
	if port < low || port > 65535 {
		k.add(key, "%d is out of range %d-65535", port, low)
	}
}

// atLeast checks a number a setting limits: low or more.
func (k *checker) atLeast(key string, value, low int) {
	if value < low {
		k.add(key, "%d is below the minimum of %d", value, low)
	}
}

func (k *checker) oneOf(key, value string, allowed ...string) {
	if !slices.Contains(allowed, value) {
		k.add(key, "%q is not one of %s", value, strings.Join(allowed, ", "))
	}
}

func (k *checker) absolute(key, path string) {
	if !filepath.IsAbs(path) {
		k.add(key, "%q is not an absolute path", path)
	}
}

// addr parses an address of the wanted family (4 or 6); empty is not set.
func (k *checker) addr(key, value string, family int) (netip.Addr, bool) {
	if value == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(value)
	if err == nil && a.Zone() == "" && (family == 4 && a.Is4() || family == 6 && a.Is6()) {
		return a, true
	}
	k.add(key, "%q is not an IPv%d address", value, family)
	return netip.Addr{}, false
}

func (c *Config) checkNetwork(k *checker) {
	k.addr("ipaddr", c.Ipaddr, 4)
	var maskBits int
	maskOK := false
	if c.Netmask != "" {
		maskBits, maskOK = netmaskBits(c.Netmask)
		if !maskOK {
			k.add("netmask", "%q is not a valid netmask", c.Netmask)
		}
	}
	network, networkOK := k.addr("network", c.Network, 4)
	var net4 netip.Prefix
	if maskOK && networkOK {
		net4 = netip.PrefixFrom(network, maskBits).Masked()
	}
	k.dhcpRange("dhcp.range start", "dhcp.range end", c.Dhcp.RangeStart, c.Dhcp.RangeEnd, 4, net4, false)
	c.checkDhcpNetworks(k, net4)

	addr6, addr6OK := k.addr("ipaddr6", c.Ipaddr6, 6)
	var net6 netip.Prefix
	if c.Prefixlen6 < 0 || c.Prefixlen6 > 128 {
		k.add("prefixlen6", "%d is out of range 0-128", c.Prefixlen6)
	} else if addr6OK && c.Prefixlen6 > 0 {
		net6 = netip.PrefixFrom(addr6, c.Prefixlen6).Masked()
	}
	k.dhcpRange("dhcp.range6 start", "dhcp.range6 end", c.Dhcp.Range6Start, c.Dhcp.Range6End, 6, net6, false)
}

// dhcpRange checks a dynamic range: both ends or neither, in order, and
// inside the network when that is known (valid). A range outside is a
// problem when inside says it must be, else a warning: Warewulf accepts
// the main range anywhere, and only the DHCP server that serves it
// refuses it.
func (k *checker) dhcpRange(startKey, endKey, start, end string, family int, network netip.Prefix, inside bool) {
	from, fromOK := k.addr(startKey, start, family)
	to, toOK := k.addr(endKey, end, family)
	switch {
	case start != "" && end == "":
		k.addAt(startKey, endKey, "must be set when %s is", startKey)
	case start == "" && end != "":
		k.addAt(endKey, startKey, "must be set when %s is", endKey)
	}
	if fromOK && toOK && from.Compare(to) > 0 {
		k.add(startKey, "%s is after %s %s", from, endKey, to)
	}
	if !network.IsValid() {
		return
	}
	report := k.add
	if !inside {
		report = k.warn
	}
	if fromOK && !network.Contains(from) {
		report(startKey, "%s is outside the network %s", from, network)
	}
	if toOK && !network.Contains(to) {
		report(endKey, "%s is outside the network %s", to, network)
	}
}

// netmaskBits returns the prefix length of a dotted IPv4 netmask whose one
// bits are contiguous.
func netmaskBits(s string) (int, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	host := ^m
	if host&(host+1) != 0 {
		return 0, false
	}
	bits := 0
	for ; bits < 32 && m&(1<<(31-bits)) != 0; bits++ {
	}
	return bits, true
}

// validArch reports whether code looks like a DHCP option 93 architecture
// code as Warewulf writes them: two hex bytes separated by a colon.
func validArch(code string) bool {
	if len(code) != 5 || code[2] != ':' {
		return false
	}
	for i, r := range code {
		if i == 2 {
			continue
		}
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

func (c *Config) checkIpxe(k *checker) {
	checkArchMap(k, "tftp.ipxe", c.Tftp.IpxeBinaries)
	checkArchMap(k, "tftp.shim", c.Tftp.ShimBinaries)
	checkArchMap(k, "tftp.grub", c.Tftp.GrubBinaries)
}

// checkArchMap checks a map of option 93 architecture codes to binaries.
func checkArchMap(k *checker, name string, m map[string]string) {
	codes := make([]string, 0, len(m))
	for code := range m {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		key := name + "." + code
		if !validArch(code) {
			k.addAt(key, name, "%q is not an architecture code like \"00:0B\"", code)
		}
		if m[code] == "" {
			k.add(key, "the binary path is empty")
		}
	}
}

func (c *Config) checkPaths(k *checker, isSet func(key string) bool) {
	p := &c.Paths
	base := []struct {
		key, value string
	}{
		{"paths.bindir", p.Bindir},
		{"paths.sysconfdir", p.Sysconfdir},
		{"paths.hostroot", p.Hostroot},
		{"paths.localstatedir", p.Localstatedir},
		{"paths.cachedir", p.Cachedir},
		{"paths.ipxesource", p.Ipxesource},
		{"paths.srvdir", p.Srvdir},
		{"paths.firewallddir", p.Firewallddir},
		{"paths.systemddir", p.Systemddir},
		{"paths.datadir", p.Datadir},
		{"paths.wwclientdir", p.Wwclientdir},
	}
	for _, b := range base {
		k.absolute(b.key, b.value)
	}
	derived := []struct {
		key, value string
	}{
		{"paths.wwoverlaydir", p.Wwoverlaydir},
		{"paths.wwchrootdir", p.Wwchrootdir},
		{"paths.wwprovisiondir", p.Wwprovisiondir},
		{"paths.wwfilesdir", p.Wwfilesdir},
		{"tftp.tftproot", c.Tftp.TftpRoot},
	}
	for _, d := range derived {
		// A relative localstatedir already has its own complaint.
		if isSet(d.key) || filepath.IsAbs(p.Localstatedir) {
			k.absolute(d.key, d.value)
		}
	}
}

// maxIfname is the longest interface name Linux accepts (IFNAMSIZ - 1).
const maxIfname = 15

// checkDhcpNetworks checks dhcp.interface and dhcp.networks: each
// network valid, with its range and gateway inside it, none overlapping
// another or the main network (network and netmask).
func (c *Config) checkDhcpNetworks(k *checker, main netip.Prefix) {
	seen := map[string]bool{}
	for _, name := range c.Dhcp.Interfaces() {
		switch {
		case len(name) > maxIfname || strings.ContainsAny(name, "/:"):
			k.add("dhcp.interface", "%q is not an interface name (at most %d characters, no / or :)", name, maxIfname)
		case seen[name]:
			k.add("dhcp.interface", "%q is listed twice", name)
		}
		seen[name] = true
	}
	type known struct {
		key    string
		prefix netip.Prefix
	}
	var nets []known
	if main.IsValid() {
		nets = append(nets, known{"network", main})
	}
	for i, n := range c.Dhcp.Networks {
		key := fmt.Sprintf("dhcp.networks[%d]", i)
		a, addrOK := k.addr(key+".network", n.Network, 4)
		if n.Network == "" {
			k.addAt(key, key+".network", "must be set")
		}
		bits, maskOK := netmaskBits(n.Netmask)
		switch {
		case n.Netmask == "":
			k.addAt(key, key+".netmask", "must be set")
		case !maskOK:
			k.add(key+".netmask", "%q is not a valid netmask", n.Netmask)
		}
		var prefix netip.Prefix
		if addrOK && maskOK {
			prefix = netip.PrefixFrom(a, bits)
			if prefix.Masked().Addr() != a {
				k.add(key+".network", "%s is not the first address of its network with netmask %s (%s)", a, n.Netmask, prefix.Masked())
			}
			prefix = prefix.Masked()
			for _, other := range nets {
				if other.prefix.Overlaps(prefix) {
					k.add(key+".network", "%s overlaps %s (%s): a request could not tell which network it is from", prefix, other.key, other.prefix)
				}
			}
			nets = append(nets, known{key, prefix})
		}
		k.dhcpRange(key+".range start", key+".range end", n.RangeStart, n.RangeEnd, 4, prefix, true)
		if gw, ok := k.addr(key+".gateway", n.Gateway, 4); ok && prefix.IsValid() && !prefix.Contains(gw) {
			k.add(key+".gateway", "%s is outside the network %s", gw, prefix)
		}
		if n.Interface != "" && (len(n.Interface) > maxIfname || strings.ContainsAny(n.Interface, "/:, \t")) {
			k.add(key+".interface", "%q is not an interface name (at most %d characters, no / : , or space)", n.Interface, maxIfname)
		}
	}
}
