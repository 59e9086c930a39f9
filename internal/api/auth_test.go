package api

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/site"
)

func TestAuth(t *testing.T) {
	open := newFixture(t, "api:\n  enabled: true\n  allowed subnets: [127.0.0.0/8, 10.1.0.0/16, \"::1/128\"]\n")
	tlsOnly := newFixture(t, "api:\n  enabled: true\n  tls: true\n  allowed subnets: [127.0.0.0/8]\n")
	cases := []struct {
		name      string
		f         *fixture
		opts      []reqOpt
		wantCode  int
		wantAuthn bool // WWW-Authenticate expected
		// wantBody is the whole answer of a refusal: Warewulf's
		// middleware answers in plain text.
		wantBody string
	}{
		{name: "right credentials", f: open, wantCode: 200},
		{name: "no credentials", f: open, opts: []reqOpt{noAuth()}, wantCode: 401, wantAuthn: true, wantBody: "Unauthorized\n"},
		{name: "wrong password", f: open, opts: []reqOpt{creds(testUser, "nope")}, wantCode: 401, wantAuthn: true, wantBody: "Unauthorized\n"},
		{name: "unknown user", f: open, opts: []reqOpt{creds("mallory", testPassword)}, wantCode: 401, wantAuthn: true, wantBody: "Unauthorized\n"},
		{name: "allowed subnet", f: open, opts: []reqOpt{from("10.1.2.3:5000")}, wantCode: 200},
		{name: "IPv6 loopback", f: open, opts: []reqOpt{from("[::1]:5000")}, wantCode: 200},
		{name: "IPv4-mapped address", f: open, opts: []reqOpt{from("[::ffff:10.1.0.9]:5000")}, wantCode: 200},
		{name: "outside the subnets", f: open, opts: []reqOpt{from("192.168.1.5:5000")}, wantCode: 403, wantBody: "Forbidden\n"},
		{name: "outside the subnets without credentials", f: open, opts: []reqOpt{from("192.168.1.5:5000"), noAuth()}, wantCode: 403,
			wantBody: "Forbidden\n"},
		{name: "TLS required, plain HTTP", f: tlsOnly, wantCode: 403, wantBody: "Forbidden\n"},
		{name: "TLS required, TLS", f: tlsOnly, opts: []reqOpt{withTLS()}, wantCode: 200},
		{name: "TLS, no credentials", f: tlsOnly, opts: []reqOpt{withTLS(), noAuth()}, wantCode: 401, wantAuthn: true,
			wantBody: "Unauthorized\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.f.do("GET", "/api/nodes/", "", tc.opts...)
			if res.code != tc.wantCode {
				t.Fatalf("code %d, want %d: %s", res.code, tc.wantCode, res.body)
			}
			wantAuthn := ""
			if tc.wantAuthn {
				wantAuthn = `Basic realm="Restricted"`
			}
			if got := res.header.Get("WWW-Authenticate"); got != wantAuthn {
				t.Errorf("WWW-Authenticate %q, want %q", got, wantAuthn)
			}
			if res.code == 200 {
				return
			}
			if diff := cmp.Diff(tc.wantBody, string(res.body)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if ct := res.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("error Content-Type %q", ct)
			}
		})
	}
}

// TestAuthHashes checks every bcrypt prefix auth.conf may hold, and that
// a changed auth.conf applies without a restart.
func TestAuthHashes(t *testing.T) {
	f := newFixture(t, "api:\n  enabled: true\n  allowed subnets: [127.0.0.0/8]\n")
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		t.Run(prefix, func(t *testing.T) {
			err := UpdateUsers(context.Background(), f.site.AuthConf(), func(u *Users) error {
				u.Set("ops", hash(t, "pw-"+prefix, prefix))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if res := f.do("GET", "/api/status", "", creds("ops", "pw-"+prefix)); res.code != 200 {
				t.Fatalf("code %d: %s", res.code, res.body)
			}
			if res := f.do("GET", "/api/status", "", creds("ops", "pw-other")); res.code != 401 {
				t.Fatalf("old password: code %d", res.code)
			}
		})
	}
	// A broken file keeps the previous users in force.
	sitetest.Write(t, f.site.AuthConf(), "users: [")
	if res := f.do("GET", "/api/status", ""); res.code != 200 {
		t.Fatalf("after a broken auth.conf: code %d: %s", res.code, res.body)
	}
}

func TestReadUsers(t *testing.T) {
	good := hash(t, "x", "$2a$")
	cases := []struct {
		name    string
		content string
		want    []User
		wantErr string
	}{
		{name: "empty", content: "", want: nil},
		{name: "two users", content: "users:\n  - name: a\n    password hash: " + good + "\n  - name: b\n    password hash: " + good + "\n",
			want: []User{{"a", good}, {"b", good}}},
		{name: "unknown key", content: "users:\n  - name: a\n    password: x\n", wantErr: "field password not found"},
		{name: "not bcrypt", content: "users:\n  - name: a\n    password hash: $1$abc$def\n", wantErr: `user "a": password hash is not a bcrypt hash`},
		{name: "no name", content: "users:\n  - password hash: " + good + "\n", wantErr: "user 1 has no name"},
		{name: "twice", content: "users:\n  - name: a\n    password hash: " + good + "\n  - name: a\n    password hash: " + good + "\n",
			wantErr: `user "a" appears twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "auth.conf")
			sitetest.Write(t, p, tc.content)
			u, err := ReadUsers(p)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), p) {
					t.Fatalf("error %v, want one naming %s and %q", err, p, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, u.Users); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateUsers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth.conf")
	ctx := context.Background()
	h, err := HashPassword([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := UpdateUsers(ctx, p, func(u *Users) error { u.Set(name, h); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := UpdateUsers(ctx, p, func(u *Users) error {
		if !u.Remove("a") {
			t.Error("Remove(a) = false")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	u, err := ReadUsers(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]User{{"b", h}}, u.Users); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.Users[0].PasswordHash), []byte("pw")); err != nil {
		t.Errorf("stored hash does not verify: %v", err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("auth.conf mode %v, want 0600", st.Mode().Perm())
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	f := newFixture(t, "api:\n  enabled: true\n")
	cases := []struct {
		name    string
		edit    func(cfg *config.Config, o *Options)
		wantErr string
	}{
		{name: "bad subnet", edit: func(cfg *config.Config, o *Options) { cfg.API.AllowedSubnets = []string{"10.0.0.0/33"} }, wantErr: `"10.0.0.0/33"`},
		{name: "bad auth.conf", edit: func(_ *config.Config, o *Options) {
			o.AuthFile = filepath.Join(t.TempDir(), "auth.conf")
			sitetest.Write(t, o.AuthFile, "users:\n  - name: a\n    password hash: plain\n")
		}, wantErr: "not a bcrypt hash"},
		{name: "no site", edit: func(_ *config.Config, o *Options) { o.Site = nil }, wantErr: "required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := f.srv.o
			cfg := *f.cfg
			o.AuthFile = ""
			tc.edit(&cfg, &o)
			if o.Site != nil {
				st, err := site.Open(site.Options{Config: &cfg})
				if err != nil {
					t.Fatal(err)
				}
				o.Site = st
			}
			if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
	// The defaults: localhost only, no TLS.
	if res := f.do("GET", "/api/status", "", from("10.0.0.5:1")); res.code != http.StatusForbidden {
		t.Errorf("default subnets let 10.0.0.5 in: %d", res.code)
	}
}
