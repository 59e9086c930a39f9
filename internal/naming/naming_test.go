package naming

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	long := strings.Repeat("a", 253)
	tests := []struct {
		name string
		kind Kind
		in   string
		want bool
	}{
		{"node plain", Node, "n001", true},
		{"node dots dashes underscores", Node, "rack1.n-01_a", true},
		{"node 253 bytes", Node, long, true},
		{"node 254 bytes", Node, long + "a", false},
		{"node empty", Node, "", false},
		{"node leading dash", Node, "-n1", false},
		{"node leading dot", Node, ".n1", false},
		{"node space", Node, "n 1", false},
		{"node colon", Node, "n:1", false},
		{"node slash", Node, "a/b", false},
		{"profile like node", Profile, "gpu", true},
		{"profile leading underscore", Profile, "_p", false},
		{"network colon", Network, "eth0:1", true},
		{"network slash", Network, "a/b", false},
		{"network leading colon", Network, ":eth", false},
		{"network long", Network, long + "aaaa", true},
		{"image plain", Image, "rocky-9.4", true},
		{"image colon and underscore", Image, "docker.io_rocky:9", true},
		{"image leading dot", Image, ".rocky", false},
		{"image dot dot", Image, "..", false},
		{"image store leftover", Image, ".rocky.deleted-1", false},
		{"image leading dash", Image, "-rocky", true},
		{"image slash", Image, "../etc", false},
		{"image empty", Image, "", false},
		{"image space", Image, "a b", false},
		{"overlay plain", Overlay, "wwinit", true},
		{"overlay leading dot", Overlay, ".hidden", true},
		{"overlay dot", Overlay, ".", false},
		{"overlay dot dot", Overlay, "..", false},
		{"overlay slash", Overlay, "a/b", false},
		{"overlay empty", Overlay, "", false},
		{"unknown kind", Kind(99), "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.kind.Valid(tt.in); got != tt.want {
				t.Errorf("%v.Valid(%q) = %v, want %v", tt.kind, tt.in, got, tt.want)
			}
			err := tt.kind.Check(tt.in)
			if (err == nil) != tt.want {
				t.Errorf("%v.Check(%q) = %v, want error %v", tt.kind, tt.in, err, !tt.want)
			}
		})
	}
}

func TestCheckMessage(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		in   string
		want string
	}{
		{"image", Image, ".x", `image name ".x" is not valid (letters, digits, '-', '_', '.', ':', not starting with '.')`},
		{"overlay", Overlay, "a/b", `overlay name "a/b" is not valid (letters, digits, '-', '.', '_', ':')`},
		{"node", Node, "n 1", `node name "n 1" is not valid (letters, digits, '.', '_', '-', starting with a letter or digit, at most 253 characters)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.kind.Check(tt.in)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Check(%q) = %v, want %s", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseMAC(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means an error
	}{
		{"canonical", "aa:bb:cc:dd:ee:0f", "aa:bb:cc:dd:ee:0f"},
		{"upper case", "AA:BB:CC:DD:EE:0F", "aa:bb:cc:dd:ee:0f"},
		{"dashes", "aa-bb-cc-dd-ee-0f", "aa:bb:cc:dd:ee:0f"},
		{"upper dashes", "AA-BB-CC-DD-EE-0F", "aa:bb:cc:dd:ee:0f"},
		{"dots", "aabb.ccdd.ee0f", "aa:bb:cc:dd:ee:0f"},
		{"bare", "aabbccddee0f", "aa:bb:cc:dd:ee:0f"},
		{"bare upper", "AABBCCDDEE0F", "aa:bb:cc:dd:ee:0f"},
		{"EUI-64", "02:00:00:00:00:00:00:01", "02:00:00:00:00:00:00:01"},
		{"InfiniBand", "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
			"00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"},
		{"empty", "", ""},
		{"bare too long", "aabbccddeeff00", ""},
		{"bare odd length", "aabbccddee0", ""},
		{"bad digit", "zz:bb:cc:dd:ee:ff", ""},
		{"bare bad digit", "aabbccddeefz", ""},
		{"too short", "aa:bb:cc:dd:ee", ""},
		{"mixed separators", "aa:bb-cc:dd-ee:01", ""},
		{"trailing separator", "aa:bb:cc:dd:ee:01:", ""},
		{"word", "not-a-mac", ""},
		{"path", "../../etc/passwd", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMAC(tt.in)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "is not a hardware address") {
					t.Errorf("ParseMAC(%q) = %q, %v; want an error", tt.in, got, err)
				}
				if n := NormalizeMAC(tt.in); n != tt.in {
					t.Errorf("NormalizeMAC(%q) = %q, want it unchanged", tt.in, n)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseMAC(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if n := NormalizeMAC(tt.in); n != tt.want {
				t.Errorf("NormalizeMAC(%q) = %q, want %q", tt.in, n, tt.want)
			}
		})
	}
}

// The canonical form needs no allocation: DHCP and every boot request
// take it.
func TestParseMACCanonicalAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseMAC("52:54:00:12:34:56") }); n != 0 {
		t.Errorf("ParseMAC of a canonical address allocates %v times, want 0", n)
	}
}
