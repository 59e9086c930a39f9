package site

import (
	"testing"

	"github.com/wwboot/wwboot/internal/inventory"
)

func TestCheckProfilesDeletable(t *testing.T) {
	inv, err := inventory.Parse([]byte(`nodeprofiles:
  default: {}
  gpu: {}
  ib: {profiles: [gpu]}
  spare: {}
  old: {profiles: [~spare]}
nodes:
  n1: {profiles: [default, gpu]}
  n2: {profiles: [default, gpu]}
  n3: {profiles: [ib]}
`), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"default", []string{"default"}, "the default profile cannot be deleted"},
		{"listed by nodes and a profile", []string{"gpu"}, `profile "gpu" is used by node(s) n[1-2], profile(s) ib; change them first`},
		{"the profile listing it deleted too", []string{"gpu", "ib"}, `profile "gpu" is used by node(s) n[1-2]; change them first`},
		{"the first in use is named", []string{"ib", "gpu"}, `profile "ib" is used by node(s) n3; change them first`},
		{"removed with ~ still counts", []string{"spare"}, `profile "spare" is used by profile(s) old; change them first`},
		{"unused", []string{"old"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckProfilesDeletable(inv, tc.names)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("CheckProfilesDeletable(%v) = %q, want %q", tc.names, got, tc.want)
			}
		})
	}
}
