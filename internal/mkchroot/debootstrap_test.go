package mkchroot

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAptSources(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name: "deb822, first release suite",
			files: map[string]string{"/etc/apt/sources.list.d/debian.sources": `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`},
			want: "http://deb.debian.org/debian",
		},
		{
			name: "deb822: disabled stanza, deb-src only, security first",
			files: map[string]string{
				"/etc/apt/sources.list.d/a.sources": "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n" +
					"Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nEnabled: no\n\n" +
					"Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n" +
					"Types: deb deb-src\nURIs:\n http://mirror.example/debian/\nSuites: bookworm\n",
			},
			want: "http://mirror.example/debian",
		},
		{
			name: "one-line with options and comments, sources.list first",
			files: map[string]string{
				"/etc/apt/sources.list": "# deb http://commented.example/debian bookworm main\n" +
					"deb-src http://src.example/debian bookworm main\n" +
					"deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://local.example/debian bookworm main # local\n",
				"/etc/apt/sources.list.d/z.list": "deb http://later.example/debian bookworm main\n",
			},
			want: "http://local.example/debian",
		},
		{
			name: "third-party repositories and disabled files are not mirrors",
			files: map[string]string{
				"/etc/apt/sources.list.d/nodesource.sources":           "Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n",
				"/etc/apt/sources.list.d/google.list.disabled-by-farm": "deb http://disabled.example/debian bookworm main\n",
				"/etc/apt/sources.list.d/cdrom.list":                   "deb cdrom:[Debian]/ bookworm main\n",
				"/etc/apt/sources.list.d/security.list":                "deb http://security.debian.org/debian-security bookworm-security main\n",
			},
			want: "",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := (&fakeHost{files: tc.files}).host(t)
			if diff := cmp.Diff(tc.want, aptMirror(h)); diff != "" {
				t.Errorf("aptMirror (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDebMirror(t *testing.T) {
	ubuntuHost := map[string]string{
		"/etc/os-release":       "NAME=Ubuntu\nID=ubuntu\nID_LIKE=debian\n",
		"/etc/apt/sources.list": "deb http://ubuntu-mirror.example/ubuntu noble main\n",
	}
	for _, tc := range []struct {
		name     string
		recipe   debRecipe
		files    map[string]string
		goarch   string
		override string
		want     string
	}{
		{"debian on debian host: host's mirror", debRecipe{"debian", "trixie"}, debianHostFiles(), "amd64", "", "http://mirror.example/debian"},
		{"override wins", debRecipe{"debian", "trixie"}, debianHostFiles(), "amd64", "http://x.example/debian/", "http://x.example/debian"},
		{"ubuntu on debian host: ubuntu's archive", debRecipe{"ubuntu", "noble"}, debianHostFiles(), "amd64", "", "http://archive.ubuntu.com/ubuntu"},
		{"ubuntu on arm64: ports", debRecipe{"ubuntu", "noble"}, debianHostFiles(), "arm64", "", "http://ports.ubuntu.com/ubuntu-ports"},
		{"ubuntu on ubuntu host: host's mirror", debRecipe{"ubuntu", "noble"}, ubuntuHost, "amd64", "", "http://ubuntu-mirror.example/ubuntu"},
		{"debian on ubuntu host: debian's", debRecipe{"debian", "bookworm"}, ubuntuHost, "amd64", "", "http://deb.debian.org/debian"},
		{"no os-release", debRecipe{"debian", "bookworm"}, nil, "amd64", "", "http://deb.debian.org/debian"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := (&fakeHost{files: tc.files}).host(t)
			h.goarch = tc.goarch
			if diff := cmp.Diff(tc.want, tc.recipe.mirror(h, tc.override)); diff != "" {
				t.Errorf("mirror (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDebootstrapArgv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		recipe debRecipe
		goarch string
		script string
		extra  []string
		want   []string
	}{
		{
			name: "debian amd64", recipe: debRecipe{"debian", "bookworm"}, goarch: "amd64",
			want: []string{"/usr/sbin/debootstrap", "--variant=minbase",
				"--include=systemd-sysv,udev,dbus,iproute2,ifupdown,openssh-server,kmod,fdisk,e2fsprogs,linux-image-amd64",
				"--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
				"bookworm", "/dest", "http://m.example/debian"},
		},
		{
			name: "debian ppc64le with extra packages", recipe: debRecipe{"debian", "trixie"}, goarch: "ppc64le",
			extra: []string{"vim", "nfs-common"},
			want: []string{"/usr/sbin/debootstrap", "--variant=minbase",
				"--include=systemd-sysv,udev,dbus,iproute2,ifupdown,openssh-server,kmod,fdisk,e2fsprogs,linux-image-powerpc64le,vim,nfs-common",
				"--keyring=/usr/share/keyrings/debian-archive-keyring.gpg",
				"trixie", "/dest", "http://m.example/debian"},
		},
		{
			name: "ubuntu with an explicit script", recipe: debRecipe{"ubuntu", "noble"}, goarch: "amd64",
			script: "/usr/share/debootstrap/scripts/gutsy",
			want: []string{"/usr/sbin/debootstrap", "--variant=minbase",
				"--include=systemd-sysv,udev,dbus,iproute2,ifupdown,openssh-server,kmod,fdisk,e2fsprogs,linux-image-generic",
				"--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg", "--components=main,universe",
				"noble", "/dest", "http://m.example/debian", "/usr/share/debootstrap/scripts/gutsy"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := host{root: "/", goarch: tc.goarch}
			got := tc.recipe.argv("/usr/sbin/debootstrap", h, "/dest", "http://m.example/debian", tc.script, tc.extra)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
		})
	}
}
