package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

const editHeader = `# Edit the %[1]ss below; save and quit to apply. Each %[1]s is replaced by
# exactly what you write here (unlike "set", nothing is merged).
# Delete an entry to remove the %[1]s; add an entry to create one.
`

func encodeSet(n site.Kind, inv *inventory.Inventory, names []string) ([]byte, error) {
	doc := n.Encode(inv, names)
	if len(names) == 0 {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := writeYAML(&buf, doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (a *app) editCommand(n site.Kind) *cobra.Command {
	var noHeader, yes bool
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("edit [%s...]", strings.ToUpper(string(n))),
		Short: fmt.Sprintf("Edit %ss as YAML in $EDITOR", n),
		Long: fmt.Sprintf(`Open the %[1]ss (all when none are named) as YAML in $EDITOR (default vi).
On save the result is checked; if it is invalid you can edit it again, and
nothing is written until it is valid. Each %[1]s is replaced by what you wrote.`, n),
		ValidArgsFunction: a.completeNames(n),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.edit(cmd.Context(), n, args, noHeader, yes)
		},
	}
	cmd.Flags().BoolVar(&noHeader, "noheader", false, "Do not write the explanatory header")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	return cmd
}

func (a *app) edit(ctx context.Context, n site.Kind, args []string, noHeader, yes bool) error {
	inv, err := a.store().Load()
	if err != nil {
		return err
	}
	selected, err := n.Select(inv, args, len(args) == 0)
	if err != nil {
		return err
	}
	original, err := encodeSet(n, inv, selected)
	if err != nil {
		return err
	}
	text := original
	if !noHeader {
		text = append([]byte(fmt.Sprintf(editHeader, n)), original...)
	}
	_, _, err = a.editText(ctx, string(n)+"s.yaml", text, func(edited []byte) error {
		return a.applyEdit(ctx, n, inv, selected, original, edited, yes)
	})
	return err
}

// applyEdit replaces, adds and deletes what the edited text says, once it
// is known to be valid and the administrator agreed. inv is the inventory
// the text was made from.
func (a *app) applyEdit(ctx context.Context, n site.Kind, inv *inventory.Inventory, selected []string, original, edited []byte, yes bool) error {
	set, err := n.Parse(edited, "edited file")
	if err != nil {
		return err
	}
	a.warnKeys(set.Warnings)
	inSet := map[string]bool{}
	for _, name := range set.Names {
		inSet[name] = true
	}
	var deleted []string
	for _, name := range selected {
		if !inSet[name] {
			deleted = append(deleted, name)
		}
	}
	was := map[string]bool{}
	for _, name := range selected {
		was[name] = true
	}
	// Only what the text changes counts as replaced; an entry written
	// back as it was is left alone.
	edits := &inventory.Inventory{Nodes: set.Nodes, Profiles: set.Profiles}
	var added, changed []string
	for _, name := range set.Names {
		if !was[name] {
			added = append(added, name)
			continue
		}
		before, err := encodeSet(n, inv, []string{name})
		if err != nil {
			return err
		}
		after, err := encodeSet(n, edits, []string{name})
		if err != nil {
			return err
		}
		if !bytes.Equal(before, after) {
			changed = append(changed, name)
		}
	}
	if len(added)+len(changed)+len(deleted) == 0 {
		fmt.Fprintln(a.out(), "No changes.")
		return nil
	}
	var parts []string
	for _, part := range []struct {
		verb  string
		names []string
	}{{"add", added}, {"replace", changed}, {"delete", deleted}} {
		p := fmt.Sprintf("%d to %s", len(part.names), part.verb)
		if len(part.names) > 0 {
			p += " (" + hostlist.Compress(part.names) + ")"
		}
		parts = append(parts, p)
	}
	summary := strings.Join(parts, ", ")
	change := func(inv *inventory.Inventory) error {
		// Refuse rather than overwrite what someone else changed in the
		// meantime.
		current, err := encodeSet(n, inv, presentOf(n, inv, selected))
		if err != nil {
			return err
		}
		if !bytes.Equal(current, original) {
			return fmt.Errorf("these %ss were changed by someone else while you edited; start the edit again", n)
		}
		for _, name := range added {
			if n.Has(inv, name) {
				return fmt.Errorf("%s %q already exists (it was not among those being edited)", n, name)
			}
		}
		// The rules of deletion are those of "delete" (the default
		// profile stays, a profile in use is refused).
		if err := n.Delete(inv, deleted); err != nil {
			return err
		}
		set.Put(inv)
		return nil
	}
	// Checked before the question: an invalid edit goes back to the
	// editor without asking whether to apply it.
	if _, err := a.store().Check(change); err != nil {
		return err
	}
	if err := a.confirm(yes, "Apply: %s?", summary); err != nil {
		return err
	}
	warnings, err := a.store().Update(ctx, change)
	a.warn(warnings)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out(), "Applied: %s.\n", summary)
	return nil
}

func presentOf(n site.Kind, inv *inventory.Inventory, names []string) []string {
	var out []string
	for _, name := range names {
		if n.Has(inv, name) {
			out = append(out, name)
		}
	}
	return out
}

// runEditor runs $EDITOR (which may carry arguments, "code -w") on file,
// connected to the terminal.
func (a *app) runEditor(ctx context.Context, file string) error {
	editor := strings.Fields(a.env.Getenv("EDITOR"))
	if len(editor) == 0 {
		editor = []string{"vi"}
	}
	cmd := exec.CommandContext(ctx, editor[0], append(editor[1:], file)...)
	cmd.Stdout, cmd.Stderr = a.env.Stdout, a.env.Stderr
	// An editor needs the terminal; piped input is for our questions and
	// must not be swallowed by it.
	if f, ok := a.env.Stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			cmd.Stdin = f
		}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("editor %q: %w", strings.Join(editor, " "), err)
	}
	return nil
}

func (a *app) nodeImport() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Create or replace nodes from a YAML or CSV file",
		Long: `Create or replace nodes from FILE ("-" for standard input). YAML has the shape
of "node export": a mapping of node name to node. CSV (a file ending in .csv)
has a header row: the first column is the node name ("node"), the others are
"node set" flag names without dashes (ipaddr, hwaddr, netname, profile,
image, ipmiaddr, ...); each row is added as "node add" would add it.
An imported node replaces an existing node of that name entirely.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(a.env.Stdin, args[0])
			if err != nil {
				return err
			}
			var set *site.Set
			if strings.HasSuffix(strings.ToLower(args[0]), ".csv") {
				set, err = parseNodeCSV(data, args[0])
			} else {
				set, err = site.NodeKind.Parse(data, args[0])
			}
			if err != nil {
				return err
			}
			a.warnKeys(set.Warnings)
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			var replaced []string
			for _, name := range set.Names {
				if _, ok := inv.Nodes[name]; ok {
					replaced = append(replaced, name)
				}
			}
			if len(replaced) > 0 {
				if err := a.confirm(yes, "Replace %d existing node(s): %s?", len(replaced), hostlist.Compress(replaced)); err != nil {
					return err
				}
			}
			warnings, err := a.store().Update(cmd.Context(), func(inv *inventory.Inventory) error {
				set.Put(inv)
				return nil
			})
			a.warn(warnings)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Imported %d node(s) (%d replaced)\n", len(set.Names), len(replaced))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	return cmd
}

func readInput(stdin io.Reader, path string) ([]byte, error) {
	if path == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %w", err)
	}
	return data, nil
}

// parseNodeCSV builds one node per row as "node add" would, from flags
// named by the header row.
func parseNodeCSV(data []byte, file string) (*site.Set, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.TrimLeadingSpace = true
	rows, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(rows) < 1 {
		return nil, fmt.Errorf("%s: empty, expected a header row", file)
	}
	header := rows[0]
	if len(header) == 0 || !(strings.EqualFold(header[0], "node") || strings.EqualFold(header[0], "name") || strings.EqualFold(header[0], "nodename")) {
		return nil, fmt.Errorf("%s:1: the first column must be \"node\"", file)
	}
	probe := pflag.NewFlagSet("csv", pflag.ContinueOnError)
	addFieldFlags(probe, true)
	for i, col := range header[1:] {
		if probe.Lookup(strings.TrimLeft(col, "-")) == nil {
			return nil, fmt.Errorf("%s:1: column %d: %q is not a node field flag", file, i+2, col)
		}
	}
	set := &site.Set{Kind: site.NodeKind, Nodes: map[string]*inventory.Node{}}
	for li, row := range rows[1:] {
		line := li + 2
		name := strings.TrimSpace(row[0])
		if name == "" {
			return nil, fmt.Errorf("%s:%d: node name is empty", file, line)
		}
		if _, dup := set.Nodes[name]; dup {
			return nil, fmt.Errorf("%s:%d: node %q appears twice", file, line, name)
		}
		fs := pflag.NewFlagSet("csv", pflag.ContinueOnError)
		ff := addFieldFlags(fs, true)
		for i, cell := range row[1:] {
			if cell = strings.TrimSpace(cell); cell == "" {
				continue
			}
			col := strings.TrimLeft(header[i+1], "-")
			if err := fs.Set(col, cell); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %w", file, line, col, err)
			}
		}
		n := &inventory.Node{}
		if !fs.Changed("profile") {
			n.Profiles = []string{"default"}
		}
		if err := ff.applyNode(n, 0); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, line, err)
		}
		set.Nodes[name] = n
		set.Names = append(set.Names, name)
	}
	return set, nil
}

func (a *app) nodeExport() *cobra.Command {
	var merged bool
	cmd := &cobra.Command{
		Use:   "export [NODE...]",
		Short: "Print nodes as YAML, the input format of node import",
		Long: `Print nodes (all when none are named) as YAML. By default each node's own
fields are printed, so export | import round-trips without baking profile
values into the nodes; --merged prints them with their profiles applied.`,
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			names, err := site.NodeKind.Select(inv, args, len(args) == 0)
			if err != nil {
				return err
			}
			doc := site.NodeKind.Encode(inv, names)
			if merged {
				ms, err := site.NodeKind.Merge(inv, names, false)
				if err != nil {
					return err
				}
				doc = site.NodeKind.EncodeMerged(names, ms)
			}
			return writeYAML(a.out(), doc)
		},
	}
	cmd.Flags().BoolVar(&merged, "merged", false, "Print nodes with their profiles applied")
	return cmd
}
