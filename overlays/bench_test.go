package overlays

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
)

// BenchmarkBuild500 builds 500 nodes with every stock overlay, from
// nothing, in-process (CPU profile: -cpuprofile).
func BenchmarkBuild500(b *testing.B) {
	root := b.TempDir()
	conf := "ipaddr: 10.0.0.1/16\npaths:\n  sysconfdir: " + root + "/etc\n  hostroot: " + root + "\n  localstatedir: " + root + "/var\n"
	cfg, _, err := config.Parse([]byte(conf), "warewulf.conf")
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("nodeprofiles:\n  default:\n    system overlay: [fstab, hostname, issue, resolv, udev.netname, systemd.netname, ifcfg, ifupdown, NetworkManager, systemd.networkd, netplan, chrony, syncuser, debug]\n    runtime overlay: [hosts]\nnodes:\n")
	for i := 1; i <= 500; i++ {
		fmt.Fprintf(&sb, "  n%04d:\n    profiles: [default]\n    network devices:\n      default: {device: eth0, hwaddr: \"02:00:00:00:%02x:%02x\", ipaddr: 10.0.%d.%d, netmask: 255.255.0.0, tags: {DNS1: 10.0.0.1}}\n      ib: {device: ib0, type: infiniband, ipaddr: 10.1.%d.%d, netmask: 255.255.0.0}\n",
			i, i/256, i%256, i/256+1, i%256, i/256+1, i%256)
	}
	inv, err := inventory.Parse([]byte(sb.String()), "nodes.conf")
	if err != nil {
		b.Fatal(err)
	}
	epoch := time.Unix(0, 0)
	for i := 0; b.Loop(); i++ {
		snap, err := overlay.NewSnapshot(cfg, inv, &overlay.Store{Builtin: FS()}, overlay.RenderOptions{Epoch: &epoch})
		if err != nil {
			b.Fatal(err)
		}
		bld := &overlay.Builder{Dir: filepath.Join(root, fmt.Sprint(i)), Workers: 2, NoSync: true}
		res, err := bld.Build(context.Background(), snap, nil, []overlay.ImageKind{overlay.System, overlay.Runtime}, true, nil)
		if err != nil || res[0].Err != nil {
			b.Fatal(err, res[0].Err)
		}
	}
}
