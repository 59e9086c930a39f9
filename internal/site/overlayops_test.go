package site

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

func TestWriteOverlayFile(t *testing.T) {
	tests := []struct {
		name        string
		file        OverlayFile
		wantErr     error
		wantCreated bool
		wantMode    fs.FileMode
	}{
		{name: "new file", file: OverlayFile{Overlay: "sys", Path: "/etc/new", Content: []byte("x")}, wantCreated: true, wantMode: 0o644},
		{name: "existing keeps its mode", file: OverlayFile{Overlay: "sys", Path: "/etc/secret", Content: []byte("y")}, wantMode: 0o600},
		{name: "mode given", file: OverlayFile{Overlay: "sys", Path: "/etc/secret", Content: []byte("y"), Mode: 0o640}, wantMode: 0o640},
		{name: "template parses", file: OverlayFile{Overlay: "sys", Path: "/etc/t.ww", Content: []byte("{{.Id}}")}, wantCreated: true, wantMode: 0o644},
		{name: "bad template", file: OverlayFile{Overlay: "sys", Path: "/etc/t.ww", Content: []byte("{{.Id")}, wantErr: ErrBadTemplate},
		{name: "create only", file: OverlayFile{Overlay: "sys", Path: "/etc/secret", CreateOnly: true}, wantErr: ErrFileExists},
		{name: "directory", file: OverlayFile{Overlay: "sys", Path: "/etc"}, wantErr: ErrNotRegular},
		{name: "outside the overlay", file: OverlayFile{Overlay: "sys", Path: "../../x"}, wantErr: ErrBadPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openSite(t, nil)
			secret := filepath.Join(s.Overlays().Site, "sys/rootfs/etc/secret")
			sitetest.Write(t, secret, "old")
			if err := os.Chmod(secret, 0o600); err != nil {
				t.Fatal(err)
			}
			created, mode, err := s.WriteOverlayFile(tt.file)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if got, _ := os.ReadFile(secret); string(got) != "old" {
					t.Errorf("a refused write changed a file: %q", got)
				}
				return
			}
			if created != tt.wantCreated || mode != tt.wantMode {
				t.Errorf("created %v mode %o, want %v %o", created, mode, tt.wantCreated, tt.wantMode)
			}
			st, err := os.Stat(filepath.Join(s.Overlays().Site, "sys/rootfs", tt.file.Path))
			if err != nil || st.Mode().Perm() != tt.wantMode {
				t.Errorf("file on disk: %v %v", st, err)
			}
		})
	}
}

func TestCheckOverlaysExist(t *testing.T) {
	s, _ := openSite(t, nil)
	sitetest.Write(t, filepath.Join(s.Overlays().Site, "sys/rootfs/etc/issue"), "hi")
	if err := s.CheckOverlaysExist("sys", "~sys", "", "wwinit"); err != nil {
		t.Errorf("existing overlays refused: %v", err)
	}
	var missing *MissingOverlayError
	if err := s.CheckOverlaysExist("sys", "~nosuch"); !errors.As(err, &missing) || missing.Name != "nosuch" {
		t.Errorf("error %v, want overlay nosuch missing", err)
	}
}
