package site

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// TestBuildImageKeepsPlainArchiveCurrent: an image built uncompressed
// once has its plain NAME.img rebuilt by every later build (image exec's
// and image build's without --uncompressed), so a node booting it with
// IPXEMenuEntry=initrd_nocompress never gets a stale image.
func TestBuildImageKeepsPlainArchiveCurrent(t *testing.T) {
	tests := []struct {
		name          string
		first         bool // the first build asks for the plain archive
		wantPlainFile bool
	}{
		{name: "built uncompressed before", first: true, wantPlainFile: true},
		{name: "never built uncompressed", first: false, wantPlainFile: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openSite(t, nil)
			root := s.Images().RootFS("rocky")
			sitetest.Write(t, filepath.Join(root, "etc/os-release"), "ID=rocky\n")
			ctx := context.Background()
			if _, err := s.BuildImage(ctx, "rocky", BuildOptions{Uncompressed: tt.first}); err != nil {
				t.Fatal(err)
			}
			sitetest.Write(t, filepath.Join(root, "etc/motd"), "installed later\n")
			res, err := s.BuildImage(ctx, "rocky", BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			plain := s.Images().Archive("rocky") + ".img"
			data, err := os.ReadFile(plain)
			if !tt.wantPlainFile {
				if err == nil {
					t.Errorf("%s made without being asked for", plain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, []byte("installed later")) {
				t.Errorf("%s is stale: it lacks etc/motd", plain)
			}
			if len(res.Outputs) != 3 {
				t.Errorf("outputs %d, want plain, gzip and zstd", len(res.Outputs))
			}
		})
	}
}
