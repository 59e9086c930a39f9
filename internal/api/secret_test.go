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
	res := f.do("PATCH", "/api/nodes/n1", `{"node": {"ipmi": {"username": "root", "password": "`+secret+`"}}}`)
	if res.code != 200 {
		t.Fatalf("PATCH: %d %s", res.code, res.body)
	}
	// A write answers the entity with the mask too.
	if strings.Contains(string(res.body), secret) || !strings.Contains(string(res.body), `"********"`) {
		t.Errorf("PATCH answer shows the password:\n%s", res.body)
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

// TestWriteBackMaskedPassword: a client that writes back what it read
// from a merged view sends the mask as the BMC password; the stored
// password stays (a node's own, a profile's), an inherited one stays
// inherited, and a new password is still taken.
func TestWriteBackMaskedPassword(t *testing.T) {
	const secret = "calvin-0xBMC"
	f := newFixture(t, enabled)
	for _, target := range []string{"/api/nodes/n1", "/api/profiles/gpu"} {
		kind := "node"
		if strings.Contains(target, "profiles") {
			kind = "profile"
		}
		if res := f.do("PATCH", target, `{"`+kind+`": {"ipmi": {"username": "root", "password": "`+secret+`"}}}`); res.code != 200 {
			t.Fatalf("PATCH %s: %d %s", target, res.code, res.body)
		}
	}
	raw := func(target string) string {
		t.Helper()
		res := f.do("GET", target+"/raw", "")
		if res.code != 200 {
			t.Fatalf("GET %s/raw: %d %s", target, res.code, res.body)
		}
		return string(res.body)
	}
	for _, tc := range []struct {
		name, target, kind string
		send               string // body; "" sends back the merged view as read
		method             string
		wantOwn            string // the password in the raw view; "" for none
	}{
		{name: "node's own, PUT back", target: "/api/nodes/n1", kind: "node", method: "PUT", wantOwn: secret},
		{name: "profile's, PUT back", target: "/api/profiles/gpu", kind: "profile", method: "PUT", wantOwn: secret},
		{name: "inherited stays inherited", target: "/api/nodes/n2", kind: "node", method: "PUT"},
		{name: "PATCH with the mask", target: "/api/nodes/n1", kind: "node", method: "PATCH",
			send: `{"node": {"ipmi": {"password": "********"}}}`, wantOwn: secret},
		{name: "a new password is taken", target: "/api/nodes/n1", kind: "node", method: "PATCH",
			send: `{"node": {"ipmi": {"password": "new-pw"}}}`, wantOwn: "new-pw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.send
			if body == "" {
				res := f.do("GET", tc.target, "")
				if res.code != 200 || !strings.Contains(string(res.body), `"********"`) {
					t.Fatalf("GET %s: %d %s", tc.target, res.code, res.body)
				}
				body = `{"` + tc.kind + `": ` + string(res.body) + `}`
			}
			if res := f.do(tc.method, tc.target, body); res.code/100 != 2 {
				t.Fatalf("%s %s: %d %s", tc.method, tc.target, res.code, res.body)
			}
			got := raw(tc.target)
			if strings.Contains(got, "********") {
				t.Errorf("the mask was stored as the password:\n%s", got)
			}
			if tc.wantOwn != "" && !strings.Contains(got, `"password":"`+tc.wantOwn+`"`) && !strings.Contains(got, `"password": "`+tc.wantOwn+`"`) {
				t.Errorf("raw view lacks password %q:\n%s", tc.wantOwn, got)
			}
			if tc.wantOwn == "" && strings.Contains(got, "password") {
				t.Errorf("the node got a password of its own:\n%s", got)
			}
		})
	}
}
