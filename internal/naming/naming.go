// Package naming holds the rules for the names of nodes, profiles,
// network devices, images and overlays, and the one reading of a
// hardware (MAC) address with its canonical form. It is a format
// package: it imports nothing of this module, so the inventory, the
// stores, the daemon and the node programs can all share it.
package naming

import (
	"fmt"
	"net"
	"strings"
)

// Kind is a kind of name; each kind has one rule.
type Kind int

const (
	// Node is a node's name: host-name characters (letters, digits,
	// '.', '_', '-'), starting with a letter or digit, at most 253 bytes.
	Node Kind = iota
	// Profile is a profile's name, under the rule of node names.
	Profile
	// Network is a network device's key in nodes.conf (default, eth0:1):
	// a node name's characters and ':', starting with a letter or digit.
	Network
	// Image is an image's name: letters, digits, '-', '_', '.', ':'
	// (Warewulf's characters), not starting with '.': the image store
	// keeps its own hidden directories (.NAME.old-*, .NAME.deleted-*)
	// beside the images.
	Image
	// Overlay is an overlay's name: letters, digits, '-', '.', '_', ':',
	// and neither "." nor "..".
	Overlay
)

func (k Kind) String() string {
	switch k {
	case Node:
		return "node"
	case Profile:
		return "profile"
	case Network:
		return "network"
	case Image:
		return "image"
	case Overlay:
		return "overlay"
	}
	return fmt.Sprintf("naming.Kind(%d)", int(k))
}

// Rule says in words which names k allows, for error messages.
func (k Kind) Rule() string {
	switch k {
	case Node, Profile:
		return "letters, digits, '.', '_', '-', starting with a letter or digit, at most 253 characters"
	case Network:
		return "letters, digits, '.', '_', ':', '-', starting with a letter or digit"
	case Image:
		return "letters, digits, '-', '_', '.', ':', not starting with '.'"
	case Overlay:
		return "letters, digits, '-', '.', '_', ':'"
	}
	return ""
}

// Valid reports whether name is a valid name of kind k.
func (k Kind) Valid(name string) bool {
	switch k {
	case Node, Profile:
		return len(name) <= 253 && startsAlnum(name) && only(name, "._-")
	case Network:
		return startsAlnum(name) && only(name, "._:-")
	case Image:
		return name != "" && name[0] != '.' && only(name, "-_.:")
	case Overlay:
		return name != "" && name != "." && name != ".." && only(name, "-._:")
	}
	return false
}

// Check returns an error naming name and the rule when name is not a
// valid name of kind k.
func (k Kind) Check(name string) error {
	if k.Valid(name) {
		return nil
	}
	return fmt.Errorf("%s name %q is not valid (%s)", k, name, k.Rule())
}

func startsAlnum(s string) bool { return s != "" && isAlnum(s[0]) }

// only reports whether s holds letters, digits and bytes of extra only.
func only(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ParseMAC reads a hardware address in any common notation and returns
// it in the canonical form, the one nodes.conf keys, DHCP and the boot
// URLs compare: lower case, colon separated. It takes what net.ParseMAC
// takes (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff, and the
// 8- and 20-byte EUI-64 and InfiniBand forms of these) and a bare
// Ethernet address of twelve hexadecimal digits (aabbccddeeff).
func ParseMAC(s string) (string, error) {
	if IsCanonicalMAC(s) {
		return s, nil // the form nodes and iPXE send: nothing to do
	}
	in := s
	if len(s) == 12 && !strings.ContainsAny(s, ":-.") {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(s[i : i+2])
		}
		s = b.String()
	}
	hw, err := net.ParseMAC(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a hardware address", in)
	}
	return hw.String(), nil
}

// NormalizeMAC is ParseMAC for text that may not be an address, compared
// or shown as it is: such text comes back unchanged (validation reports
// it).
func NormalizeMAC(s string) string {
	if hw, err := ParseMAC(s); err == nil {
		return hw
	}
	return s
}

// IsCanonicalMAC reports whether s is already in the canonical form
// (aa:bb:cc:dd:ee:ff of 6, 8 or 20 bytes), the common case, which needs
// no allocation.
func IsCanonicalMAC(s string) bool {
	if n := len(s) + 1; n%3 != 0 || (n/3 != 6 && n/3 != 8 && n/3 != 20) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' {
				return false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
