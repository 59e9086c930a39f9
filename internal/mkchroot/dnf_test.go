package mkchroot

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDNFArgv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		recipe dnfRecipe
		goarch string
		mirror string
		extra  []string
		want   []string
	}{
		{
			name: "rocky amd64", recipe: rocky9(), goarch: "amd64",
			want: []string{"dnf", "--installroot=/dest", "--releasever=9",
				"--setopt=install_weak_deps=False", "--setopt=keepcache=False",
				"--repofrompath=wwboot-baseos,https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/", "--repo=wwboot-baseos",
				"--setopt=wwboot-baseos.gpgcheck=1", "--setopt=wwboot-baseos.gpgkey=https://dl.rockylinux.org/pub/rocky/RPM-GPG-KEY-Rocky-9",
				"--repofrompath=wwboot-appstream,https://dl.rockylinux.org/pub/rocky/9/AppStream/x86_64/os/", "--repo=wwboot-appstream",
				"--setopt=wwboot-appstream.gpgcheck=1", "--setopt=wwboot-appstream.gpgkey=https://dl.rockylinux.org/pub/rocky/RPM-GPG-KEY-Rocky-9",
				"-y", "install", "@core", "kernel"},
		},
		{
			name: "alma arm64 from a local mirror with extras", recipe: alma9(), goarch: "arm64",
			mirror: "http://local.example/alma/", extra: []string{"nfs-utils"},
			want: []string{"dnf", "--installroot=/dest", "--releasever=9",
				"--setopt=install_weak_deps=False", "--setopt=keepcache=False",
				"--repofrompath=wwboot-baseos,http://local.example/alma/9/BaseOS/aarch64/os/", "--repo=wwboot-baseos",
				"--setopt=wwboot-baseos.gpgcheck=1", "--setopt=wwboot-baseos.gpgkey=http://local.example/alma/RPM-GPG-KEY-AlmaLinux-9",
				"--repofrompath=wwboot-appstream,http://local.example/alma/9/AppStream/aarch64/os/", "--repo=wwboot-appstream",
				"--setopt=wwboot-appstream.gpgcheck=1", "--setopt=wwboot-appstream.gpgkey=http://local.example/alma/RPM-GPG-KEY-AlmaLinux-9",
				"-y", "install", "@core", "kernel", "nfs-utils"},
		},
		{
			name: "fedora keeps its absolute key URL", recipe: fedora42(), goarch: "amd64",
			want: []string{"dnf", "--installroot=/dest", "--releasever=42",
				"--setopt=install_weak_deps=False", "--setopt=keepcache=False",
				"--repofrompath=wwboot-fedora,https://dl.fedoraproject.org/pub/fedora/linux/releases/42/Everything/x86_64/os/", "--repo=wwboot-fedora",
				"--setopt=wwboot-fedora.gpgcheck=1", "--setopt=wwboot-fedora.gpgkey=https://src.fedoraproject.org/rpms/fedora-repos/raw/f42/f/RPM-GPG-KEY-fedora-42-primary",
				"--repofrompath=wwboot-updates,https://dl.fedoraproject.org/pub/fedora/linux/updates/42/Everything/x86_64/", "--repo=wwboot-updates",
				"--setopt=wwboot-updates.gpgcheck=1", "--setopt=wwboot-updates.gpgkey=https://src.fedoraproject.org/rpms/fedora-repos/raw/f42/f/RPM-GPG-KEY-fedora-42-primary",
				"-y", "install", "@core", "kernel"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.recipe.argv("dnf", tc.goarch, "/dest", tc.mirror, tc.extra)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
}
