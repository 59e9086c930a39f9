package site

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// TestClean: the overlay images of deleted nodes, the image store's
// leftovers and the OCI cache go; what belongs to nodes and images that
// exist, and the builds' own files, stay. --dry-run removes nothing.
func TestClean(t *testing.T) {
	for _, dryRun := range []bool{true, false} {
		t.Run(map[bool]string{true: "dry run", false: "clean"}[dryRun], func(t *testing.T) {
			s, _ := openSite(t, nil)
			sitetest.Write(t, s.NodesConf(), "nodes:\n  n1: {}\n")
			ov := s.OverlayImageDir()
			chroots, images := s.Images().Chroots, filepath.Join(s.Config().Paths.Wwprovisiondir, "images")
			sitetest.Write(t, filepath.Join(s.Images().RootFS("rocky"), "etc/os-release"), "ID=rocky\n")
			keep := []string{
				filepath.Join(ov, "n1.pack"), filepath.Join(ov, ".shared/x.json"), filepath.Join(ov, ".lock"), filepath.Join(ov, ".locks/07"),
				filepath.Join(images, "rocky.img.gz"), filepath.Join(images, "rocky.bootstrap-6.1.img.gz"),
				filepath.Join(images, "rocky.img.secret.zst.sha256"),
			}
			gone := []string{
				filepath.Join(ov, "n2.pack"),
				filepath.Join(ov, "n3/__SYSTEM__.pack"), // a deleted node's, from before packs held both images
				filepath.Join(chroots, ".rocky.old-123/rootfs/etc/os-release"),
				filepath.Join(chroots, ".alma.deleted-456/rootfs/etc/os-release"),
				filepath.Join(chroots, ".alma.new-7/rootfs/etc/os-release"),
				filepath.Join(images, "alma.img.gz"), filepath.Join(images, "alma.bootstrap-6.1.img.gz"),
				filepath.Join(s.CacheDir(), "warewulf/blobs/sha256/abc"),
			}
			for _, p := range append(append([]string(nil), keep...), gone...) {
				sitetest.Write(t, p, "x")
			}
			left, err := s.Clean(context.Background(), dryRun)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range left {
				got = append(got, l.Path)
			}
			want := []string{
				filepath.Join(ov, "n2.pack"), filepath.Join(ov, "n3"),
				filepath.Join(chroots, ".alma.deleted-456"), filepath.Join(chroots, ".alma.new-7"), filepath.Join(chroots, ".rocky.old-123"),
				filepath.Join(images, "alma.bootstrap-6.1.img.gz"), filepath.Join(images, "alma.img.gz"),
				filepath.Join(s.CacheDir(), "warewulf"),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cleaned (-want +got):\n%s", diff)
			}
			for _, p := range keep {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("kept file removed: %v", err)
				}
			}
			for _, p := range gone {
				_, err := os.Stat(p)
				if dryRun && err != nil {
					t.Errorf("dry run removed %s", p)
				}
				if !dryRun && err == nil {
					t.Errorf("%s not removed", p)
				}
			}
		})
	}
}
