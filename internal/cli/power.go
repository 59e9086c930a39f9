package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/site"
)

// bmcFlags are the flags every BMC command takes.
type bmcFlags struct {
	fanout     int
	show       bool
	json, yaml bool
}

func (f *bmcFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&f.fanout, "fanout", site.DefaultFanout, "How many BMCs to talk to at once")
	fl.BoolVarP(&f.show, "show", "s", false, "Only show what would be sent to each BMC (passwords masked); send nothing")
	fl.BoolVarP(&f.json, "json", "j", false, "Print JSON (a list in node order)")
	fl.BoolVarP(&f.yaml, "yaml", "y", false, "Print YAML (a list in node order)")
	cmd.MarkFlagsMutuallyExclusive("json", "yaml")
}

const bmcLong = `

NODE arguments take hostlist patterns (n[001-100],gpu1). Each node's BMC is
its "ipmi" fields: ipaddr, port (623; 443 for Redfish), username, password,
and interface, lanplus (IPMI 2.0, the default), lan (IPMI 1.5) or redfish
(HTTPS, the certificate verified against warewulf.conf's ipmi.redfish ca or
the system's roots), spoken in process; a node
whose "ipmi template" names a Warewulf command template (other than the
default ipmitool.tmpl) has that template rendered and run with /bin/sh, as
Warewulf does. At most --fanout BMCs are talked to at once, each for at most
warewulf.conf's ipmi.timeout seconds (10): a dead BMC fails its own node
only. One line per node with its result or its error; the exit status is 1
when any node failed.`

func (a *app) powerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "power COMMAND [OPTIONS]",
		Short: "Node power management through the nodes' BMCs",
		Long:  "This command controls the power state of nodes, their boot device and identify light." + bmcLong,
	}
	shorts := map[bmc.PowerAction]string{
		bmc.ActionOn:    "Power the given node(s) on",
		bmc.ActionOff:   "Power the given node(s) off, at once",
		bmc.ActionCycle: "Power the given node(s) off, then on",
		bmc.ActionReset: "Reset the given node(s), at once",
		bmc.ActionSoft:  "Ask the given node(s)' operating system to shut down (ACPI)",
	}
	for _, act := range bmc.PowerActions() {
		cmd.AddCommand(a.bmcCommand(string(act)+" NODE...", shorts[act], bmc.Request{Op: bmc.OpPower, Action: act}, nil))
	}
	cmd.AddCommand(a.bmcCommand("status NODE...", "Show the power status of the given node(s)", bmc.Request{Op: bmc.OpStatus}, nil))

	identify := &cobra.Command{
		Use:   "identify COMMAND [OPTIONS]",
		Short: "Turn the identify light of nodes on or off",
		Long:  "Turn the chassis identify light (or beeper) of the given nodes on, until turned off, or off." + bmcLong,
	}
	identify.AddCommand(a.bmcCommand("on NODE...", "Turn the identify light on", bmc.Request{Op: bmc.OpIdentify, On: true}, nil),
		a.bmcCommand("off NODE...", "Turn the identify light off", bmc.Request{Op: bmc.OpIdentify}, nil))

	bootdev := &cobra.Command{
		Use:   "bootdev COMMAND [OPTIONS]",
		Short: "Set the device nodes boot from next (pxe, disk, bios)",
		Long: `Set the boot device override of the given nodes: pxe (the network, this
server), disk, or bios (firmware setup). It applies to the next boot only,
unless --persistent.` + bmcLong,
	}
	for _, dev := range bmc.BootDevices() {
		var persistent bool
		c := a.bmcCommand(string(dev)+" NODE...", "Boot the given node(s) from "+map[bmc.BootDevice]string{
			bmc.BootPXE: "the network (PXE)", bmc.BootDisk: "disk", bmc.BootBIOS: "firmware setup"}[dev],
			bmc.Request{Op: bmc.OpBootDev, Device: dev}, func(r *bmc.Request) { r.Persistent = persistent })
		c.Flags().BoolVar(&persistent, "persistent", false, "Every boot, not only the next one")
		bootdev.AddCommand(c)
	}
	cmd.AddCommand(identify, bootdev)
	return cmd
}

func (a *app) nodeSensors() *cobra.Command {
	var full bool
	cmd := a.bmcCommand("sensors NODE...", "Show node IPMI sensor information", bmc.Request{Op: bmc.OpSensors},
		func(r *bmc.Request) { r.Full = full })
	cmd.Long = "Show the sensors of the given nodes' BMCs: name, reading, unit and status, and\nwith --full their thresholds." + bmcLong
	cmd.Flags().BoolVarP(&full, "full", "F", false, "Show the thresholds too (lnr lcr lnc unc ucr unr)")
	return cmd
}

// bmcCommand is a command that runs req on the named nodes' BMCs; adjust,
// when set, completes req from the command's own flags.
func (a *app) bmcCommand(use, short string, req bmc.Request, adjust func(*bmc.Request)) *cobra.Command {
	var f bmcFlags
	cmd := &cobra.Command{
		Use:               use,
		Short:             short,
		Long:              short + "." + bmcLong,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := req
			if adjust != nil {
				adjust(&r)
			}
			if f.fanout < 1 {
				return fmt.Errorf("--fanout %d: want 1 or more", f.fanout)
			}
			res, err := a.site.RunBMC(cmd.Context(), args, r, site.BMCOptions{
				Fanout: f.fanout, Show: f.show, Progress: a.progress(r.String()),
			})
			a.progressDone()
			if err != nil {
				return err
			}
			if err := a.printBMC(res, r, f); err != nil {
				return err
			}
			var failed []string
			for _, x := range res {
				if x.Err != nil {
					failed = append(failed, x.Node)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("%s: %d of %d nodes failed: %s", r, len(failed), len(res), hostlist.Compress(failed))
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

// bmcRow is a node's result as -j and -y print it.
type bmcRow struct {
	Node    string         `json:"node" yaml:"node"`
	BMC     string         `json:"bmc" yaml:"bmc"`
	Would   string         `json:"would,omitempty" yaml:"would,omitempty"`
	Result  string         `json:"result,omitempty" yaml:"result,omitempty"`
	Sensors []bmc.Sensor   `json:"sensors,omitempty" yaml:"sensors,omitempty"`
	Error   string         `json:"error,omitempty" yaml:"error,omitempty"`
	Power   bmc.PowerState `json:"power,omitempty" yaml:"power,omitempty"`
}

// cause is a node's error without the node, BMC and request the table
// already shows.
func cause(err error) string {
	var ne *site.NodeError
	if errors.As(err, &ne) {
		return ne.Err.Error()
	}
	return err.Error()
}

func (a *app) printBMC(res []site.BMCResult, r bmc.Request, f bmcFlags) error {
	result := func(x site.BMCResult) string {
		switch {
		case x.Err != nil:
			return "error: " + cause(x.Err)
		case f.show:
			return x.Would
		case r.Op == bmc.OpStatus:
			return string(x.Power)
		case r.Op == bmc.OpSensors:
			return fmt.Sprintf("%d sensors", len(x.Sensors))
		}
		return "ok"
	}
	if f.json || f.yaml {
		rows := make([]bmcRow, 0, len(res))
		for _, x := range res {
			row := bmcRow{Node: x.Node, BMC: x.BMC, Would: x.Would, Sensors: x.Sensors, Power: x.Power}
			if x.Err != nil {
				row.Error = cause(x.Err)
			} else if !f.show && r.Op != bmc.OpSensors && r.Op != bmc.OpStatus {
				row.Result = "ok"
			}
			rows = append(rows, row)
		}
		if f.json {
			return writeJSON(a.out(), rows)
		}
		return yaml.NewEncoder(a.out()).Encode(rows)
	}
	if r.Op == bmc.OpSensors && !f.show {
		return a.printSensors(res, r.Full)
	}
	head := "RESULT"
	if f.show {
		head = "WOULD SEND"
	}
	t := newTable("NODE", "BMC", head)
	for _, x := range res {
		t.add(x.Node, valueOrDash(x.BMC), result(x))
	}
	return t.write(a.out())
}

func (a *app) printSensors(res []site.BMCResult, full bool) error {
	head := []string{"NODE", "SENSOR", "READING", "UNIT", "STATUS"}
	if full {
		for _, n := range bmc.ThresholdNames() {
			head = append(head, strings.ToUpper(n))
		}
	}
	t := newTable(head...)
	for _, x := range res {
		if x.Err != nil {
			t.add(x.Node, "error: "+cause(x.Err))
			continue
		}
		for _, s := range x.Sensors {
			row := []string{x.Node, valueOrDash(s.Name), valueOrDash(s.Reading), valueOrDash(s.Unit), valueOrDash(s.Status)}
			if full {
				for _, n := range bmc.ThresholdNames() {
					row = append(row, valueOrDash(s.Thresholds[n]))
				}
			}
			t.add(slices.Clip(row)...)
		}
	}
	return t.write(a.out())
}
