package api

import (
	"strings"
	"testing"
)

// TestBMCPasswordMasked: the merged views and the field rows show a BMC
// password as the mask; the raw view, behind the same authentication,
// keeps it (an edit round-trips through it).
func TestBMCPasswordMasked(t *testing.T) {
	const secret = "calvin-0xBMC"
	f := newFixture(t, enabled)
	if res := f.do("PATCH", "/api/nodes/n1", `{"node": {"ipmi": {"username": "root", "password": "`+secret+`"}}}`); res.code != 200 {
		t.Fatalf("PATCH: %d %s", res.code, res.body)
	}
	if res := f.do("PATCH", "/api/profiles/gpu", `{"profile": {"ipmi": {"password": "`+secret+`"}}}`); res.code != 200 {
		t.Fatalf("PATCH: %d %s", res.code, res.body)
	}
	for _, tc := range []struct {
		name, target string
		keep         bool
	}{
		{name: "node list", target: "/api/nodes/"},
		{name: "node", target: "/api/nodes/n1"},
		{name: "inherited", target: "/api/nodes/n2"},
		{name: "node fields", target: "/api/nodes/n1/fields"},
		{name: "profile list", target: "/api/profiles/"},
		{name: "profile", target: "/api/profiles/gpu"},
		{name: "profile fields", target: "/api/profiles/gpu/fields"},
		{name: "raw node", target: "/api/nodes/n1/raw", keep: true},
		{name: "raw profile", target: "/api/profiles/gpu/raw", keep: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do("GET", tc.target, "")
			if res.code != 200 {
				t.Fatalf("GET %s: %d %s", tc.target, res.code, res.body)
			}
			body := string(res.body)
			if got := strings.Contains(body, secret); got != tc.keep {
				t.Errorf("password shown: %v, want %v:\n%s", got, tc.keep, body)
			}
			if got := strings.Contains(body, `"********"`); got == tc.keep {
				t.Errorf("mask shown: %v, want %v:\n%s", got, !tc.keep, body)
			}
		})
	}
}
