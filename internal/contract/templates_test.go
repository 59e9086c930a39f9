package contract

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The iPXE templates the daemon embeds spell the contract in iPXE's
// language (a site's own templates, Warewulf's format, do the same), so
// they cannot take the names from this package. This test holds them to
// it instead: every route, query key and kernel argument they use is one
// of this package's, and the set used is the one named here.
func TestEmbeddedIPXETemplates(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "provision", "templates", "*.ipxe"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no embedded iPXE templates found (%v)", err)
	}
	var (
		routeRE = regexp.MustCompile(`\$\{base\}/([^/\s]+)/`)
		// Query keys: "set args K=V&K=V" and "?${args}&K=V".
		argsRE  = regexp.MustCompile(`^set args (.*)$`)
		queryRE = regexp.MustCompile(`(?:^|[?&])([A-Za-z_.]+)=`)
		// Kernel arguments of ours on the boot lines (not Warewulf's
		// dracut module's wwinit.*).
		kernelRE = regexp.MustCompile(`(?:^|\s)(ww[a-z]+)=`)
	)
	routes, queries, args := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			for _, m := range routeRE.FindAllStringSubmatch(line, -1) {
				routes[m[1]] = true
			}
			if m := argsRE.FindStringSubmatch(line); m != nil {
				for _, q := range queryRE.FindAllStringSubmatch(m[1], -1) {
					queries[q[1]] = true
				}
			}
			for _, field := range strings.Fields(line) {
				if _, q, ok := strings.Cut(field, "${args}"); ok {
					for _, m := range queryRE.FindAllStringSubmatch(q, -1) {
						queries[m[1]] = true
					}
				}
			}
			if strings.HasPrefix(line, "boot ") {
				for _, m := range kernelRE.FindAllStringSubmatch(line, -1) {
					args[m[1]] = true
				}
			}
		}
	}
	tests := []struct {
		name string
		got  map[string]bool
		want []string
	}{
		{name: "routes", got: routes,
			want: []string{RouteKernel, RouteImage, RouteSystem, RouteRuntime, RouteInitramfs, RouteProvision}},
		{name: "query keys", got: queries, want: []string{QueryAssetKey, QueryUUID, QueryToken, QueryCompress, QueryOwn}},
		{name: "kernel arguments", got: args, want: []string{ArgWWID, ArgServer, ArgAssetKey, ArgUUID, ArgToken, ArgRoot}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for k := range tt.got {
				got = append(got, k)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s of the embedded iPXE templates (-contract +templates):\n%s", tt.name, diff)
			}
		})
	}
}
