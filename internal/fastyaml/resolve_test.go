package fastyaml

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// v3Tag is the tag yaml.v3 gives s as a plain mapping value.
func v3Tag(t *testing.T, s string) string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("k: "+s+"\n"), &doc); err != nil {
		t.Fatalf("yaml.v3 cannot read %q: %v", s, err)
	}
	return doc.Content[0].Content[1].Tag
}

func TestResolvePlain(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"word", "default", strTag},
		{"hostname", "n0001", strTag},
		{"ip address", "10.0.0.1", strTag},
		{"netmask", "255.255.255.0", strTag},
		{"mac address", "00:1a:2b:3c:4d:5e", strTag},
		{"version", "1.2.3", strTag},
		{"decimal", "9000", intTag},
		{"negative", "-17", intTag},
		{"plus sign", "+17", intTag},
		{"underscores", "1_000", intTag},
		{"hex", "0x1F", intTag},
		{"hex underscore", "0x_1F", intTag},
		{"octal 1.1", "0777", intTag},
		{"octal 1.1 bad digit is float", "0778", floatTag},
		{"leading zero float", "09", floatTag},
		{"octal 1.2", "0o17", intTag},
		{"octal 1.2 signed digits", "0o-7", intTag},
		{"binary", "0b1010", intTag},
		{"binary sign after prefix", "0b-1", intTag},
		{"negative binary", "-0b11", intTag},
		{"prefix only", "0x", strTag},
		{"beyond int64", "9223372036854775808", intTag},
		{"beyond uint64", "99999999999999999999", floatTag},
		{"hex beyond uint64", "0x1FFFFFFFFFFFFFFFF", strTag},
		{"float", "3.14", floatTag},
		{"float exponent", "1e3", floatTag},
		{"float exponent upper", "1E-3", floatTag},
		{"float leading dot", ".5", floatTag},
		{"float signed dot", "-.5", floatTag},
		{"float trailing dot", "1.", floatTag},
		{"hex float is string", "0x1p-2", strTag},
		{"dot word", ".git", strTag},
		{"inf", ".inf", floatTag},
		{"negative inf", "-.Inf", floatTag},
		{"nan", ".NaN", floatTag},
		{"nan signed is string", "+.nan", strTag},
		{"true", "true", boolTag},
		{"True", "True", boolTag},
		{"FALSE", "FALSE", boolTag},
		{"mixed case bool is string", "tRUE", strTag},
		{"yes is a string in yaml.v3", "yes", strTag},
		{"no is a string in yaml.v3", "no", strTag},
		{"on is a string in yaml.v3", "on", strTag},
		{"off is a string in yaml.v3", "Off", strTag},
		{"y is a string", "y", strTag},
		{"tilde", "~", nullTag},
		{"null", "null", nullTag},
		{"Null", "Null", nullTag},
		{"nULL is a string", "nULL", strTag},
		{"date", "2024-01-31", timestampTag},
		{"short date", "2024-1-3", timestampTag},
		{"date time", "2001-12-14t21:59:43.10-05:00", timestampTag},
		{"spaced date time", "2001-12-14 21:59:43.10", timestampTag},
		{"date with zone offset unsupported", "2001-12-14 21:59:43.10 -5", strTag},
		{"not a date", "2001-13-45", strTag},
		{"merge key", "<<", mergeTag},
		{"sign only", "+", strTag},
		{"dash word", "-foo", strTag},
		{"underscore only", "_", strTag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolvePlain(tt.in); got != tt.want {
				t.Errorf("resolvePlain(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if v3 := v3Tag(t, tt.in); v3 != tt.want {
				t.Errorf("yaml.v3 resolves %q to %s; the table says %s", tt.in, v3, tt.want)
			}
		})
	}
}

// FuzzResolvePlain checks the resolver against yaml.v3 for any plain
// scalar the fast parser would accept.
func FuzzResolvePlain(f *testing.F) {
	for _, s := range []string{"1", "0x1F", "1e3", "2001-12-14", ".inf", "0b-1", "1_0", "-0o7", "+.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !canPlain(s, false) {
			return
		}
		if got, want := resolvePlain(s), v3Tag(t, s); got != want {
			t.Errorf("resolvePlain(%q) = %s, yaml.v3 says %s", s, got, want)
		}
	})
}
