package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

type statusOptions struct {
	watch   bool
	every   int
	since   int64 // Unix time; 0 for no filter
	byLast  bool
	reverse bool
	unknown bool
	json    bool
	yaml    bool
}

func (a *app) nodeStatus() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status [NODE...]",
		Short: "Show how far each node got booting, and when it was last seen",
		Long: `Show each node's last boot stage (IPXE, KERNEL, IMAGE, SYSTEM_OVERLAY,
RUNTIME_OVERLAY), what was sent, and the seconds since it was last seen, as
the provisioning daemon records them (GET /status on warewulf.conf's address
and port). On a terminal a node not seen for an update interval is yellow,
for two, red.`,
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			if len(args) > 0 {
				var err error
				if names, err = hostlist.Expand(args...); err != nil {
					return err
				}
			}
			for {
				if err := a.printStatus(cmd.Context(), names, o); err != nil {
					return err
				}
				if !o.watch {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(time.Duration(o.every) * time.Millisecond):
				}
			}
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.watch, "watch", "w", false, "Refresh until interrupted")
	f.IntVarP(&o.every, "update", "U", 500, "Refresh interval of --watch, in milliseconds")
	f.BoolVarP(&o.byLast, "last", "l", false, "Sort by the last check-in, most recent first")
	f.Int64VarP(&o.since, "time", "t", 0, "Show only nodes that checked in at or after this Unix time (seconds)")
	f.BoolVarP(&o.reverse, "reverse", "r", false, "Reverse the order")
	f.BoolVarP(&o.unknown, "unknown", "u", false, "Show only nodes never seen or in error")
	f.BoolVarP(&o.json, "json", "j", false, "Print JSON (a list in the table's order)")
	f.BoolVarP(&o.yaml, "yaml", "y", false, "Print YAML (a list in the table's order)")
	cmd.MarkFlagsMutuallyExclusive("json", "yaml")
	return cmd
}

// statusURL is where the daemon answers: the configured address (the
// loopback when none) and port.
func (a *app) statusURL() string {
	host := a.cfg.Ipaddr
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.cfg.Warewulf.Port)) + contract.PathStatus
}

func (a *app) printStatus(ctx context.Context, names []string, o statusOptions) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.statusURL(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("node status: is the daemon running (wwctl server)? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("node status: %s answered %s", a.statusURL(), resp.Status)
	}
	body, err := contract.DecodeStatus(resp.Body)
	if err != nil {
		return fmt.Errorf("node status: reading %s: %w", a.statusURL(), err)
	}
	// Nodes the daemon never saw are listed too, from the inventory.
	if inv, err := a.store().Load(); err == nil {
		for _, n := range inv.NodeNames() {
			if _, ok := body.Nodes[n]; !ok {
				body.Nodes[n] = contract.NodeStatus{Node: n}
			}
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	now := time.Now()
	var rows []contract.NodeStatus
	for _, st := range body.Nodes {
		if len(want) > 0 && !want[st.Node] {
			continue
		}
		if o.unknown && !st.LastSeen.IsZero() && !contract.Failed(st.Sent) {
			continue
		}
		if o.since > 0 && st.LastSeenUnix() < o.since {
			continue
		}
		rows = append(rows, st)
	}
	sort.Slice(rows, func(i, j int) bool {
		if o.byLast && !rows[i].LastSeen.Equal(rows[j].LastSeen) {
			return rows[i].LastSeen.After(rows[j].LastSeen)
		}
		return inventory.NaturalLess(rows[i].Node, rows[j].Node)
	})
	if o.reverse {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	if o.json || o.yaml {
		if rows == nil {
			rows = []contract.NodeStatus{}
		}
		if o.json {
			return writeJSON(a.out(), rows)
		}
		return yaml.NewEncoder(a.out()).Encode(rows)
	}
	colour := a.colourTerminal()
	interval := int64(a.cfg.Warewulf.PollSeconds())
	if o.watch && colour {
		fmt.Fprint(a.out(), "\033[H\033[2J")
	}
	// Warewulf's layout: fixed columns, then a line of 80 '='.
	row := func(cells ...string) string {
		return strings.TrimRight(fmt.Sprintf("%-20s %-20s %-25s %-10s", cells[0], cells[1], cells[2], cells[3]), " ")
	}
	lines := []string{row("NODENAME", "STAGE", "SENT", "LASTSEEN (s)"), strings.Repeat("=", 80)}
	var ages []int64
	for _, st := range rows {
		seen, age := "--", int64(-1)
		if st.LastSeenUnix() > 0 {
			age = int64(now.Sub(st.LastSeen).Seconds())
			seen = strconv.FormatInt(age, 10)
		}
		ages = append(ages, age)
		lines = append(lines, row(st.Node, valueOrDash(st.Stage), valueOrDash(st.Sent), seen))
	}
	fmt.Fprintln(a.out(), lines[0])
	fmt.Fprintln(a.out(), lines[1])
	for i, line := range lines[2:] {
		if colour {
			switch age := ages[i]; {
			case age >= 2*interval:
				line = "\033[31m" + line + "\033[0m"
			case age >= interval+5:
				line = "\033[33m" + line + "\033[0m"
			}
		}
		fmt.Fprintln(a.out(), line)
	}
	return nil
}

// colourTerminal reports whether stdout is a terminal.
func (a *app) colourTerminal() bool {
	f, ok := a.env.Stdout.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
