package layering

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const module = "github.com/wwboot/wwboot/"

// rule says that the packages From may not import (directly, or with
// Deep, through anything) a package of the module outside Allow, or, when
// Deny is set, any package in Deny.
type rule struct {
	name  string
	from  []string
	deep  bool
	allow []string // nil: every package of the module but deny
	deny  []string
	// except are packages a rule with From nil does not apply to,
	// besides cmd/wwctl and those of Deny.
	except []string
}

var (
	// Formats: files and encodings, usable by anything, the node programs too.
	formats = []string{"internal/atomicfile", "internal/compress", "internal/cpio", "internal/hostlist",
		"internal/fastyaml", "internal/contract", "internal/config", "internal/naming", "internal/arch", "internal/hugeheap"}
	// Node: what runs on a node.
	node = []string{"internal/agent", "internal/stage1", "internal/nodeclient"}
	// Build: what makes images and overlays.
	build = []string{"internal/inventory", "internal/image", "internal/overlay", "internal/bootstrap",
		"internal/oci", "internal/mkchroot", "internal/sandbox", "internal/sshca", "internal/bmc", "internal/ipxebuild"}
	// Serving and front ends.
	serving = []string{"internal/provision", "internal/api", "internal/dhcp", "internal/tftp", "internal/ndp",
		"internal/site", "internal/daemon", "internal/cli"}
	// Test kits: fixtures shared by the tests of several packages.
	testkits = []string{"internal/testkit/nettest", "internal/testkit/sitetest", "internal/testkit/sshdtest", "internal/testkit/bmcsim",
		"internal/testkit/hostprog", "internal/testkit/treetest"}
	// Test BMCs under test/: for the tests and the e2e scenarios, never
	// part of the product.
	testBMCs = []string{"test/redfishsim"}
	// Programs.
	programs = []string{"cmd/wwctl", "cmd/wwclient", "cmd/wwstage1"}
)

func rules() []rule {
	return []rule{
		{name: "formats import nothing of ours", from: formats, allow: []string{}},
		{name: "node programs are built from format, contract and node packages", deep: true,
			from: []string{"cmd/wwclient", "cmd/wwstage1"}, allow: append(slices.Clone(formats), node...)},
		{name: "build packages never import serving packages or front ends", from: build, deny: serving},
		{name: "only cmd/wwctl imports the CLI", from: nil, deny: []string{"internal/cli"}},
		{name: "only the CLI imports the daemon", from: nil, except: []string{"internal/cli"}, deny: []string{"internal/daemon"}},
		{name: "only tests import the test kits", from: nil, except: []string{"test/e2e"}, deny: testkits},
		{name: "the product never imports the test BMCs", from: slices.Concat(formats, node, build, serving, programs), deny: testBMCs},
	}
}

// graph maps a package of the module (without the module prefix) to the
// packages of the module it imports.
type graph map[string][]string

// violations lists "from imports to (rule)" for every import a rule
// forbids. deps gives a package's imports with Deep rules followed.
func violations(direct, deps graph, rs []rule) []string {
	var out []string
	for _, r := range rs {
		from := r.from
		if from == nil { // every package but the one the rule is about
			for p := range direct {
				if p != "cmd/wwctl" && !slices.Contains(r.deny, p) && !slices.Contains(r.except, p) {
					from = append(from, p)
				}
			}
		}
		for _, p := range from {
			imports := direct[p]
			if r.deep {
				imports = deps[p]
			}
			for _, to := range imports {
				if to == p {
					continue
				}
				bad := slices.Contains(r.deny, to) || r.allow != nil && !slices.Contains(r.allow, to)
				if bad {
					out = append(out, p+" imports "+to+" ("+r.name+")")
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// goList runs go list in the module's root and returns, for each package
// of the module, the packages of the module the template's list names.
func goList(t *testing.T, field string, deep bool) graph {
	t.Helper()
	args := []string{"list"}
	if deep {
		args = append(args, "-deps")
	}
	args = append(args, "-f", "{{.ImportPath}} {{join ."+field+" \" \"}}", "./...")
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	g := graph{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], module) {
			continue
		}
		p := strings.TrimPrefix(f[0], module)
		g[p] = []string{}
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) {
				g[p] = append(g[p], strings.TrimPrefix(imp, module))
			}
		}
	}
	return g
}

func TestImportDirection(t *testing.T) {
	direct := goList(t, "Imports", false)
	deps := goList(t, "Deps", false)
	for _, p := range slices.Concat(formats, node, build, serving, testkits, testBMCs, programs) {
		if _, ok := direct[p]; !ok {
			t.Errorf("package %s is in the rules but not in the module: update the rules", p)
		}
	}
	if v := violations(direct, deps, rules()); len(v) > 0 {
		t.Errorf("imports against the layering:\n  %s", strings.Join(v, "\n  "))
	}
}

// The rules catch what they are for, on a made-up module.
func TestViolations(t *testing.T) {
	direct := graph{
		"cmd/wwctl":          {"internal/cli"},
		"cmd/wwclient":       {"internal/agent"},
		"internal/agent":     {"internal/cpio", "internal/inventory"},
		"internal/cpio":      {"internal/compress"},
		"internal/compress":  {},
		"internal/inventory": {"internal/atomicfile"},
		"internal/overlay":   {"internal/provision"},
		"internal/provision": {"internal/cli"},
		"internal/cli":       {"internal/daemon"},
		"internal/daemon":    {"internal/provision"},
		"internal/api":       {"internal/daemon"},
		"internal/dhcp":      {"internal/testkit/nettest"},
		"internal/bmc":       {"test/redfishsim"},
		"test/e2e":           {"test/redfishsim"},
	}
	deps := graph{"cmd/wwclient": {"internal/agent", "internal/cpio", "internal/compress", "internal/inventory", "internal/atomicfile"}}
	want := []string{
		"cmd/wwclient imports internal/inventory (node programs are built from format, contract and node packages)",
		"internal/api imports internal/daemon (only the CLI imports the daemon)",
		"internal/bmc imports test/redfishsim (the product never imports the test BMCs)",
		"internal/cpio imports internal/compress (formats import nothing of ours)",
		"internal/dhcp imports internal/testkit/nettest (only tests import the test kits)",
		"internal/overlay imports internal/provision (build packages never import serving packages or front ends)",
		"internal/provision imports internal/cli (only cmd/wwctl imports the CLI)",
	}
	if diff := cmp.Diff(want, violations(direct, deps, rules())); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}
