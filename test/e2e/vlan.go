package e2e

import (
	"context"
	"fmt"
)

// Options.VLAN's network: a VLAN the server has an access port on, the
// cluster's main network (ipaddr); BridgeName's network then serves PXE.
const (
	VLANBridge     = "brv"
	VLANID         = 1000
	VLANNetwork    = "203.0.113.0" // TEST-NET-3, only inside the namespace
	VLANServerIP   = "203.0.113.1"
	VLANRangeStart = "203.0.113.100"
	VLANRangeEnd   = "203.0.113.199"
	// VLANMTU is the VLAN's MTU on the server's side: 4 bytes under
	// Ethernet's 1500, so that a full frame with its 802.1Q tag still
	// fits the 1514 bytes a PXE stack's UNDI interface passes (iPXE's
	// own, in the NIC's ROM, cuts longer frames: BASEMEM_PACKET_LEN),
	// which undionly.kpxe's VLAN device sits on.
	VLANMTU = 1496
)

// VLANSwitch is Options.VLAN's switch: a VM with VMOptions.Trunk set
// to it is on its trunk port.
func (c *Cluster) VLANSwitch() *VLANSwitch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.vlan
}

// startVLAN adds VLANBridge and the switch between it, BridgeName and
// the VMs' trunk.
func (c *Cluster) startVLAN(ctx context.Context) error {
	if err := c.ns.AddBridge(ctx, VLANBridge, fmt.Sprintf("%s/%d", VLANServerIP, prefixLen)); err != nil {
		return err
	}
	sw, err := c.ns.NewVLANSwitch(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.vlan = sw
	c.mu.Unlock()
	if err := sw.AddAccess(ctx, c.ns, 0, BridgeName); err != nil {
		return err
	}
	if err := sw.AddAccess(ctx, c.ns, VLANID, VLANBridge); err != nil {
		return err
	}
	for _, dev := range []string{VLANBridge, sw.port(VLANID)} {
		if err := run(ctx, c.ns.Command(ctx, "ip", "link", "set", dev, "mtu", fmt.Sprint(VLANMTU)).Args...); err != nil {
			return fmt.Errorf("MTU of %s: %w", dev, err)
		}
	}
	sw.Start()
	return nil
}
