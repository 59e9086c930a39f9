package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/wwboot/wwboot/internal/api"
)

func TestConfigureAPIUser(t *testing.T) {
	tr := newTree(t, "")
	authConf := filepath.Join(tr.root, "etc", "warewulf", "auth.conf")
	users := func() map[string]string {
		t.Helper()
		u, err := api.ReadUsers(authConf)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, user := range u.Users {
			out[user.Name] = user.PasswordHash
		}
		return out
	}
	steps := []struct {
		name      string
		stdin     string
		args      []string
		wantErr   string
		wantUsers []string
		// passwords each user must now have.
		passwords map[string]string
	}{
		{name: "add", stdin: "first pw\n", args: []string{"admin"}, wantUsers: []string{"admin"},
			passwords: map[string]string{"admin": "first pw"}},
		{name: "add another, no newline", stdin: "other", args: []string{"ops"}, wantUsers: []string{"admin", "ops"},
			passwords: map[string]string{"admin": "first pw", "ops": "other"}},
		{name: "change", stdin: "second pw\r\n", args: []string{"admin"}, wantUsers: []string{"admin", "ops"},
			passwords: map[string]string{"admin": "second pw", "ops": "other"}},
		{name: "empty password", stdin: "\n", args: []string{"admin"}, wantErr: "password is empty",
			wantUsers: []string{"admin", "ops"}, passwords: map[string]string{"admin": "second pw"}},
		{name: "no input", stdin: "", args: []string{"admin"}, wantErr: "no password",
			wantUsers: []string{"admin", "ops"}, passwords: map[string]string{"admin": "second pw"}},
		{name: "bad name", stdin: "pw\n", args: []string{"a b"}, wantErr: "not valid", wantUsers: []string{"admin", "ops"}},
		{name: "remove", args: []string{"ops", "--remove"}, wantUsers: []string{"admin"}},
		{name: "remove unknown", args: []string{"ops", "--remove"}, wantErr: `no user "ops"`, wantUsers: []string{"admin"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			_, _, err := tr.run(st.stdin, append([]string{"configure", "api-user"}, st.args...)...)
			if st.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), st.wantErr) {
					t.Fatalf("error %v, want %q", err, st.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got := users()
			var names []string
			for _, n := range []string{"admin", "ops"} {
				if _, ok := got[n]; ok {
					names = append(names, n)
				}
			}
			if diff := cmp.Diff(st.wantUsers, names); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			for name, pw := range st.passwords {
				if err := bcrypt.CompareHashAndPassword([]byte(got[name]), []byte(pw)); err != nil {
					t.Errorf("%s: password %q does not match: %v", name, pw, err)
				}
			}
		})
	}
}

// TestConfigureAPIUserFromPipe gives the password as "echo PW | wwctl
// configure api-user" does: standard input is a file that is not a
// terminal (a pipe, or a regular file).
func TestConfigureAPIUserFromPipe(t *testing.T) {
	tests := []struct {
		name  string
		stdin func(t *testing.T) *os.File
	}{
		{name: "pipe", stdin: func(t *testing.T) *os.File {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close() })
			if _, err := w.WriteString("piped pw\n"); err != nil {
				t.Fatal(err)
			}
			w.Close()
			return r
		}},
		{name: "regular file", stdin: func(t *testing.T) *os.File {
			p := filepath.Join(t.TempDir(), "pw")
			if err := os.WriteFile(p, []byte("piped pw\nsecond line\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t, "")
			env := Env{Stdin: tt.stdin(t), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
			if err := Run(t.Context(), []string{"--warewulfconf", tr.conf, "configure", "api-user", "admin"}, env); err != nil {
				t.Fatal(err)
			}
			u, err := api.ReadUsers(filepath.Join(tr.root, "etc", "warewulf", "auth.conf"))
			if err != nil {
				t.Fatal(err)
			}
			if len(u.Users) != 1 || bcrypt.CompareHashAndPassword([]byte(u.Users[0].PasswordHash), []byte("piped pw")) != nil {
				t.Errorf("auth.conf users %+v do not hold admin with the piped password", u.Users)
			}
		})
	}
}
