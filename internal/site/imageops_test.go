package site

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

const usersNodes = `nodeprofiles:
  default:
    image name: rocky
  gpu: {}
nodes:
  n10:
    image name: rocky
  n2:
    profiles: [default]
  n3:
    image name: alma
`

func TestDeleteAndRenameImage(t *testing.T) {
	tests := []struct {
		name      string
		image     string
		wantUsers []string
		wantErr   string
	}{
		{name: "named by a node and a profile", image: "rocky", wantUsers: []string{"node n10", "profile default"}},
		{name: "named by a node", image: "alma", wantUsers: []string{"node n3"}},
		{name: "unused", image: "debian"},
		{name: "missing", image: "nosuch", wantErr: `image "nosuch" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openSite(t, nil)
			sitetest.Write(t, s.NodesConf(), usersNodes)
			for _, im := range []string{"rocky", "alma", "debian"} {
				sitetest.Write(t, filepath.Join(s.Images().RootFS(im), "etc/os-release"), "ID="+im+"\n")
			}
			err := s.DeleteImage(tt.image)
			var inUse *InUseError
			errors.As(err, &inUse)
			var users []string
			if inUse != nil {
				users = inUse.Users
			}
			if diff := cmp.Diff(tt.wantUsers, users); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			switch {
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
			case tt.wantUsers == nil && err != nil:
				t.Errorf("delete: %v", err)
			}
			if gone := !s.Images().Exists(tt.image); tt.wantErr == "" && gone != (err == nil) {
				t.Errorf("image gone: %v, error %v", gone, err)
			}
		})
	}
}

func TestRenameImageRenamesItsUsers(t *testing.T) {
	s, _ := openSite(t, nil)
	sitetest.Write(t, s.NodesConf(), usersNodes)
	sitetest.Write(t, filepath.Join(s.Images().RootFS("rocky"), "etc/os-release"), "ID=rocky\n")
	if err := s.RenameImage(t.Context(), "rocky", "rocky9"); err != nil {
		t.Fatal(err)
	}
	inv, err := s.Nodes().Load()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"node n10", "profile default"}, ImageNamedBy(inv, "rocky9")); diff != "" {
		t.Errorf("users of rocky9 (-want +got):\n%s", diff)
	}
	if !s.Images().Exists("rocky9") || s.Images().Exists("rocky") {
		t.Errorf("image not renamed")
	}
}
