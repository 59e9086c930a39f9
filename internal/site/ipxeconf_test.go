package site

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIpxeMapEdit(t *testing.T) {
	const before = "# site\nipaddr: 10.0.0.1\ntftp:\n  enabled: true\n"
	const after = "# site\nipaddr: 10.0.0.1\ntftp:\n  ipxe:\n    \"00:00\": /srv/ipxe/u.kpxe\n  enabled: true\n"
	tests := []struct {
		name    string
		between func(path string) error // runs between plan and write
		want    string
		wantErr string
	}{
		{name: "written", between: func(string) error { return nil }, want: after},
		{name: "changed meanwhile", between: func(p string) error { return os.WriteFile(p, []byte(before+"nfs:\n  enabled: false\n"), 0o644) },
			want: before + "nfs:\n  enabled: false\n", wantErr: "changed while the edit was planned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "warewulf.conf")
			if err := os.WriteFile(p, []byte(before), 0o600); err != nil {
				t.Fatal(err)
			}
			edit, err := PlanIpxeMap(p, map[string]string{"00:00": "/srv/ipxe/u.kpxe"})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(edit.Diff, "+  ipxe:\n+    \"00:00\": /srv/ipxe/u.kpxe\n") {
				t.Errorf("diff:\n%s", edit.Diff)
			}
			if err := tt.between(p); err != nil {
				t.Fatal(err)
			}
			err = edit.Write(context.Background())
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Write: %v, want %q", err, tt.wantErr)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("file (-want +got):\n%s", diff)
			}
			if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want the file's own 0600", st.Mode().Perm())
			}
		})
	}
}
