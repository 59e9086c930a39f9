package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A crafted image archive of more blob names than any image has is
// refused at the scan, before its index grows without bound.
func TestScanArchiveBoundsItsIndex(t *testing.T) {
	tests := []struct {
		name    string
		blobs   int
		wantErr string
	}{
		{name: "an archive with many blobs", blobs: 1000},
		{name: "more blobs than any image has", blobs: maxIndexEntries, wantErr: "more than 65536 blobs, manifests and links"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries := []tentry{file("oci-layout", `{"imageLayoutVersion":"1.0.0"}`)}
			for i := 0; i < tt.blobs; i++ {
				entries = append(entries, file(fmt.Sprintf("blobs/sha256/%064x", i), ""))
			}
			p := filepath.Join(t.TempDir(), "image.tar")
			if err := os.WriteFile(p, tarBytes(t, entries...), 0o644); err != nil {
				t.Fatal(err)
			}
			a, kind, err := scanArchive(context.Background(), p)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || kind != KindOCIArchive || len(a.files) != tt.blobs+1 {
				t.Fatalf("scan: kind %q, %d files, %v", kind, len(a.files), err)
			}
		})
	}
}
