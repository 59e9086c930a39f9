// Package cli is wwctl's command line: one file per noun, commands built
// by constructors over an app value that carries the streams, the
// environment and the loaded configuration. Nothing here is global, so
// tests run whole commands in-process and in parallel.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

// Env is what a command may touch outside its arguments.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Version is printed by "wwctl version".
	Version string
	// Commands runs the programs "wwctl configure" uses (systemctl, the
	// DHCP servers' checks); nil runs them.
	Commands site.Commander
}

// app is the state one wwctl invocation shares between its commands.
type app struct {
	env Env
	log *slog.Logger

	confPath  string
	emptyConf bool
	// confLoaded is the warewulf.conf read, "" when the defaults are in use.
	confLoaded string
	verbose    bool
	debug      bool
	// daemon: the command is "server", which logs at info by default.
	daemon   bool
	logLevel int

	cfg *config.Config
	// site is the installation cfg describes, opened by setup.
	site  *site.Site
	stdin *bufio.Reader

	progressLine bool
}

// Run executes wwctl with args (without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	a := &app{env: env, stdin: bufio.NewReader(env.Stdin)}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	return root.ExecuteContext(ctx)
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "wwctl",
		Short: "Manage a stateless cluster: nodes, profiles, images, overlays and the provisioning server",
		Long: `wwctl manages a cluster whose nodes boot from the network into an image held
in RAM. It reads warewulf.conf and nodes.conf in Warewulf v4's formats, so an
existing Warewulf site works unchanged.

The configuration file is --warewulfconf, else $WAREWULFCONF, else
/etc/warewulf/warewulf.conf if it exists, else the built-in defaults.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if isGroup(cmd) {
				// Help or an unknown subcommand: no configuration needed.
				return nil
			}
			// The daemon logs what it does (listening, reloads,
			// discovered nodes) unless told otherwise; commands only
			// their warnings.
			a.daemon = cmd.Name() == "server"
			return a.setup()
		},
	}
	pf := root.PersistentFlags()
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "Show more detail on stderr")
	pf.BoolVarP(&a.debug, "debug", "d", false, "Show debugging detail on stderr")
	pf.StringVar(&a.confPath, "warewulfconf", "", "Path of warewulf.conf (default $WAREWULFCONF or /etc/warewulf/warewulf.conf)")
	pf.BoolVar(&a.emptyConf, "emptyconf", false, "Ignore any warewulf.conf and use the built-in defaults")
	_ = pf.MarkHidden("emptyconf")
	pf.IntVar(&a.logLevel, "loglevel", 0, "Warewulf's numeric log level (10 debug, 20 info, 30 warning, 40 error)")
	_ = pf.MarkHidden("loglevel")
	root.AddCommand(a.nodeCommand(), a.powerCommand(), a.profileCommand(), a.overlayCommand(), a.imageCommand(), a.configureCommand(),
		a.serverCommand(), a.cleanCommand(), a.sshCommand(),
		a.genconfigCommand(), a.versionCommand(), a.upgradeCommand(), a.ipxeCommand())
	disableFlagsInUse(root)
	root.InitDefaultCompletionCmd()
	refuseUnknownSubcommands(root)
	return root
}

// isGroup reports whether c only holds subcommands (node, image, ...).
func isGroup(c *cobra.Command) bool {
	return c.HasSubCommands() && c.Annotations[groupAnnotation] == "true"
}

const groupAnnotation = "wwctl-group"

// refuseUnknownSubcommands makes every command that only holds
// subcommands fail on an argument that names none of them ("wwctl node
// frob"), where cobra would print the help and exit 0; without arguments
// it still prints the help.
func refuseUnknownSubcommands(c *cobra.Command) {
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[groupAnnotation] = "true"
		if c.SuggestionsMinimumDistance <= 0 {
			c.SuggestionsMinimumDistance = 2
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += "; did you mean " + strings.Join(s, " or ") + "?"
			}
			return fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath())
		}
	}
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
}

// disableFlagsInUse stops cobra appending "[flags]" to usage lines that
// already say [OPTIONS].
func disableFlagsInUse(c *cobra.Command) {
	c.DisableFlagsInUseLine = true
	if c.HasAvailableLocalFlags() && !strings.Contains(c.Use, "[OPTIONS]") {
		c.Use += " [OPTIONS]"
	}
	for _, sub := range c.Commands() {
		disableFlagsInUse(sub)
	}
}

// setup configures logging and loads warewulf.conf.
func (a *app) setup() error {
	level := slog.LevelWarn
	if a.verbose || a.daemon {
		level = slog.LevelInfo
	}
	if a.debug {
		level = slog.LevelDebug
	}
	if a.logLevel > 0 {
		// Warewulf's scale: 10 debug, 20 info, 30 warning, 40 error.
		switch {
		case a.logLevel < 20:
			level = slog.LevelDebug
		case a.logLevel < 30:
			level = slog.LevelInfo
		case a.logLevel < 40:
			level = slog.LevelWarn
		default:
			level = slog.LevelError
		}
	}
	a.log = slog.New(slog.NewTextHandler(a.env.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	a.cfg = cfg
	a.site, err = site.Open(site.Options{Config: cfg, Log: a.log, Getenv: a.env.Getenv, Commands: a.env.Commands})
	return err
}

func (a *app) loadConfig() (*config.Config, error) {
	if a.emptyConf {
		return config.Default(), nil
	}
	path, explicit := a.confPath, true
	if path == "" {
		path = a.env.Getenv("WAREWULFCONF")
	}
	if path == "" {
		path, explicit = config.DefaultPath, false
	}
	cfg, warnings, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		a.log.Debug("no warewulf.conf, using built-in defaults", "path", path)
		return config.Default(), nil
	}
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		a.log.Warn(w)
	}
	a.log.Debug("loaded configuration", "path", path)
	a.confLoaded = path
	return cfg, nil
}

func (a *app) store() *inventory.Store { return a.site.Nodes() }

func (a *app) out() io.Writer { return a.env.Stdout }

// warn prints problems the inventory already had; they do not block an
// unrelated change but the administrator should know.
func (a *app) warn(ps []inventory.Problem) {
	for _, p := range ps {
		a.log.Warn("existing problem in nodes.conf: " + p.String())
	}
}

// warnKeys prints warnings about keys of a file the format does not have.
func (a *app) warnKeys(ws []inventory.Warning) {
	for _, w := range ws {
		a.log.Warn(w.String())
	}
}

// confirm asks a yes/no question on stderr and reads the answer from
// stdin. With yes set it returns true without asking. End of input counts
// as "no", so a script without --yes changes nothing.
func (a *app) confirm(yes bool, format string, args ...any) error {
	if yes {
		return nil
	}
	fmt.Fprintf(a.env.Stderr, format+" [y/N] ", args...)
	line, err := a.stdin.ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	if answer == "y" || answer == "yes" {
		return nil
	}
	if err != nil {
		fmt.Fprintln(a.env.Stderr)
	}
	return errAborted
}

// progress returns a callback that shows "label: done/total" on a
// terminal; it shows nothing when stderr is not one (logs and CI).
func (a *app) progress(label string) func(done, total int) {
	f, ok := a.env.Stderr.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	a.progressLine = true
	return func(done, total int) {
		if done == total || done%20 == 0 {
			fmt.Fprintf(f, "\r%s: %d/%d", label, done, total)
		}
	}
}

// progressDone ends a progress line.
func (a *app) progressDone() {
	if a.progressLine {
		fmt.Fprintln(a.env.Stderr)
		a.progressLine = false
	}
}

var errAborted = errors.New("aborted, nothing changed (use --yes to skip the question)")
