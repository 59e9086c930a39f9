package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) sshCommand() *cobra.Command {
	var opts site.RemoteOptions
	var dryRun bool
	var sleep int
	cmd := &cobra.Command{
		Use:   "ssh [OPTIONS] NODE_PATTERN [--] COMMAND...",
		Short: "Run a command on nodes over ssh, in parallel",
		Long: `Run a non-interactive command on every node NODE_PATTERN names (a hostlist:
n[01-64],gpu1), at most --fanout at once, as "RSH ADDRESS COMMAND..." for each
node, ADDRESS being the IPv4 address of its primary network device. Put "--"
before a command that has options of its own: wwctl ssh 'n[01-64]' -- uptime -p

Each line a node's command writes is printed as it comes, prefixed with the
node's name as pdsh does ("n01: ..."), on stdout or stderr as the command wrote
it. Standard input is not passed on. At the end a summary on stderr groups the
nodes by exit code ("n[01-63]: exit code 0", "n64: exit code 255" for one
ssh could not reach), then names the nodes the command did not run on and why
(no address, RSH could not start); wwctl exits non-zero when any node failed.`,
		Example: `  wwctl ssh 'n[001-100]' -- uptime
  wwctl ssh --fanout 8 --sleep 1 n01,n02 -- systemctl restart slurmd
  wwctl ssh -n 'n[1-4]' -- hostname    # print what would run`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Fanout < 1 {
				return fmt.Errorf("--fanout %d: must be at least 1", opts.Fanout)
			}
			if sleep < 0 {
				return fmt.Errorf("--sleep %d: must not be negative", sleep)
			}
			if opts.Rsh == "" {
				return errors.New("--rsh: give the program to run")
			}
			opts.Sleep = time.Duration(sleep) * time.Second
			opts.Command = args[1:]
			targets, err := a.site.RemoteTargets(args[:1])
			if err != nil {
				return err
			}
			var results []site.RemoteResult
			if dryRun {
				for _, t := range targets {
					if t.Err != nil {
						results = append(results, site.RemoteResult{Node: t.Node, ExitCode: -1, Err: t.Err})
						continue
					}
					results = append(results, site.RemoteResult{Node: t.Node}) // not run: nothing failed
					fmt.Fprintf(a.out(), "%s: %s\n", t.Node, strings.Join(opts.Argv(t), " "))
				}
			} else {
				p := &prefixer{stdout: a.out(), stderr: a.env.Stderr}
				results = site.RunRemote(cmd.Context(), targets, opts, p)
			}
			return a.remoteSummary(results, !dryRun)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&dryRun, "dryrun", "n", false, "Show the commands that would run, run none")
	f.IntVarP(&opts.Fanout, "fanout", "f", 32, "How many nodes to run the command on at once")
	f.IntVarP(&sleep, "sleep", "s", 0, "Seconds to wait after each node's command before its slot serves another node")
	f.StringVar(&opts.Rsh, "rsh", "/usr/bin/ssh", "Program to run as: RSH ADDRESS COMMAND...")
	cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return a.completeNames(site.NodeKind)(cmd, args, toComplete)
		}
		return nil, cobra.ShellCompDirectiveDefault
	}
	return cmd
}

// remoteSummary prints how the nodes ended (with exit codes when the
// command ran) and fails when any did.
func (a *app) remoteSummary(results []site.RemoteResult, ran bool) error {
	failed := 0
	for _, g := range site.SummarizeRemote(results) {
		if g.Failed {
			failed += len(g.Nodes)
		}
		if !ran && !g.Failed {
			continue
		}
		fmt.Fprintf(a.env.Stderr, "%s: %s\n", hostlist.Compress(g.Nodes), g.Outcome)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d nodes failed", failed, len(results))
	}
	return nil
}

// prefixer prints each node's lines with the node's name in front, one
// whole line at a time.
type prefixer struct {
	mu             sync.Mutex
	stdout, stderr io.Writer
}

func (p *prefixer) Line(node string, stderr bool, line string) {
	w := p.stdout
	if stderr {
		w = p.stderr
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(w, "%s: %s\n", node, line)
}
