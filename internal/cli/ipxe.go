package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/ipxebuild"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) ipxeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ipxe COMMAND",
		Short: "Build iPXE binaries",
	}
	cmd.AddCommand(a.ipxeBuild())
	return cmd
}

// ipxeBuildFlags are wwctl ipxe build's settings; each flag's default
// is the environment variable of Warewulf's scripts/build-ipxe.sh.
type ipxeBuildFlags struct {
	source, repo, branch, targets, embed, destdir, cross string
	jobs                                                 int
	update, noUpdate, yes                                bool
}

// fromEnv fills the flags the command line did not set from the
// environment.
func (f *ipxeBuildFlags) fromEnv(cmd *cobra.Command, getenv func(string) string) error {
	for _, v := range []struct {
		flag, env string
		dst       *string
	}{
		{"source", "IPXE_SOURCE", &f.source}, {"repo", "IPXE_REPO", &f.repo}, {"branch", "IPXE_BRANCH", &f.branch},
		{"targets", "TARGETS", &f.targets}, {"embed", "EMBED", &f.embed}, {"destdir", "DESTDIR", &f.destdir},
		{"cross", "CROSS", &f.cross},
	} {
		if !cmd.Flags().Changed(v.flag) {
			if e := getenv(v.env); e != "" {
				*v.dst = e
			}
		}
	}
	if !cmd.Flags().Changed("jobs") {
		if e := getenv("JOBS"); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n < 1 {
				return fmt.Errorf("JOBS=%q: want a number of make jobs, 1 or more", e)
			}
			f.jobs = n
		}
	}
	if f.jobs < 0 {
		return fmt.Errorf("--jobs %d: want a number of make jobs, 1 or more (0: one per CPU)", f.jobs)
	}
	if f.update && f.noUpdate {
		return fmt.Errorf("--update-config and --no-update-config: choose one")
	}
	return nil
}

func (a *app) ipxeBuild() *cobra.Command {
	f := ipxeBuildFlags{destdir: ipxebuild.DefaultDestDir, repo: ipxebuild.DefaultRepo, branch: ipxebuild.DefaultBranch}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [-- MAKE_ARGUMENTS...]",
		Short: "Build iPXE from source with an embedded script, and point tftp.ipxe at it",
		Long: `Build iPXE from source, as Warewulf's scripts/build-ipxe.sh does, and offer
to point warewulf.conf's tftp.ipxe map at the binaries.

The source is --source (an iPXE checkout, its top or its src directory;
built in place, so a second build only remakes what changed), else a
shallow git clone of --branch from --repo into a temporary directory.
Each target (bin-ARCH-PLATFORM/FILE) is made with make CONFIG=wwboot:
the build writes config/local/wwboot/general.h, which turns on the VLAN
commands (vcreate, vdestroy) and gzip and zlib images; the tree's own
config/local/*.h still apply (define CONSOLE_SERIAL in console.h there for
iPXE's own serial console). --embed
builds an iPXE script (starting with #!ipxe) into every binary. Targets
for another architecture than this machine's are cross-compiled with
--cross (default for arm64: aarch64-linux-gnu-, Debian's
gcc-aarch64-linux-gnu). Arguments after -- go to make, for example
NO_WERROR=1, or EXTRA_CFLAGS=-fno-PIE for trees older than 2021 built
with a gcc that defaults to PIE.

A missing EMBED file, compiler or source tree is said before make runs.
make's output goes to stderr when it is a terminal and always to a log
file, which a failure names with the failing target and the last lines.
The binaries go to --destdir as the target with "/" turned into "-"
(bin-x86_64-pcbios-undionly.kpxe), written atomically.

Then the tftp.ipxe map is shown as a diff of warewulf.conf (DHCP client
architecture 00:00 for a BIOS .kpxe, 00:07 and 00:09 for x86_64 UEFI,
00:0B for arm64 UEFI; other codes keep their binary) and written after a
yes, or at once with --update-config or --yes; --no-update-config leaves it.
The edit keeps the rest of the file as it is. "wwctl server" reads the new
map when it starts: restart it (systemctl restart warewulfd); a reload
only says that a restart is needed.

Every option can also come from the environment variable Warewulf's
script reads: IPXE_SOURCE, IPXE_REPO, IPXE_BRANCH, TARGETS, EMBED,
DESTDIR, CROSS, JOBS; a flag wins over the variable.

Example (a VLAN before DHCP):
  cat >vlan.ipxe <<'EOS'
  #!ipxe
  vcreate --tag 1000 net0
  dhcp net0-1000
  chain http://${next-server}:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}
  EOS
  wwctl ipxe build --source ~/ipxe --embed vlan.ipxe --targets bin-x86_64-pcbios/undionly.kpxe`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.fromEnv(cmd, a.env.Getenv); err != nil {
				return err
			}
			targets := ipxebuild.DefaultTargets()
			if f.targets != "" {
				targets = []string{f.targets}
			}
			ts, err := ipxebuild.ParseTargets(targets)
			if err != nil {
				return err
			}
			o := ipxebuild.Options{
				Source: f.source, Repo: f.repo, Branch: f.branch, Targets: ts, Embed: f.embed,
				DestDir: f.destdir, Cross: f.cross, Jobs: f.jobs, MakeArgs: args, Log: a.log,
			}
			if isTerminal(a.env.Stderr) || a.verbose {
				o.Progress = a.env.Stderr
			}
			built, err := ipxebuild.Build(cmd.Context(), o)
			for _, b := range built {
				fmt.Fprintf(a.out(), "Built %s: %s\n", b.Target.Name, b.Path)
			}
			if err != nil {
				return err
			}
			if f.noUpdate {
				return nil
			}
			return a.updateIpxeMap(cmd, built, f.update || f.yes)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.source, "source", "", "iPXE source tree (a checkout or its src directory); default: clone --branch of --repo ($IPXE_SOURCE)")
	fl.StringVar(&f.repo, "repo", f.repo, "Git URL of iPXE to clone without --source ($IPXE_REPO)")
	fl.StringVar(&f.branch, "branch", f.branch, "Branch or tag to clone ($IPXE_BRANCH)")
	fl.StringVar(&f.targets, "targets", "", "Targets, separated by spaces or commas ($TARGETS; default "+fmt.Sprint(ipxebuild.DefaultTargets())+")")
	fl.StringVar(&f.embed, "embed", "", "iPXE script to embed ($EMBED)")
	fl.StringVar(&f.destdir, "destdir", f.destdir, "Directory the binaries are written to ($DESTDIR)")
	fl.StringVar(&f.cross, "cross", "", "Cross compiler prefix for other architectures ($CROSS; default aarch64-linux-gnu- for arm64)")
	fl.IntVarP(&f.jobs, "jobs", "j", 0, "make jobs ($JOBS; default one per CPU)")
	fl.BoolVar(&f.update, "update-config", false, "Update tftp.ipxe in warewulf.conf without asking")
	fl.BoolVar(&f.noUpdate, "no-update-config", false, "Leave warewulf.conf as it is")
	fl.BoolVarP(&f.yes, "yes", "y", false, "Answer yes: update tftp.ipxe without asking")
	return cmd
}

// updateIpxeMap shows the tftp.ipxe change the built binaries call for
// and makes it after confirmation.
func (a *app) updateIpxeMap(cmd *cobra.Command, built []ipxebuild.Built, yes bool) error {
	path := a.configPath()
	current := config.Default().Tftp.IpxeBinaries
	if a.cfg != nil && !a.emptyConf {
		current = a.cfg.Tftp.IpxeBinaries
	}
	binaries, notes := ipxebuild.IpxeMap(current, built)
	for _, n := range notes {
		fmt.Fprintln(a.out(), n)
	}
	edit, err := site.PlanIpxeMap(path, binaries)
	if err != nil {
		return err
	}
	if edit.Diff == "" {
		fmt.Fprintf(a.out(), "tftp.ipxe in %s already names these binaries\n", path)
		return nil
	}
	fmt.Fprint(a.out(), edit.Diff)
	if err := a.confirm(yes, "Update tftp.ipxe in %s?", path); err != nil {
		fmt.Fprintf(a.out(), "%s not changed (--update-config writes it)\n", path)
		return nil
	}
	if err := edit.Write(cmd.Context()); err != nil {
		return err
	}
	fmt.Fprintf(a.out(), "Wrote %s; \"systemctl restart warewulfd\" makes a running server use it\n", path)
	return nil
}

// configPath is the warewulf.conf a command that edits it writes: the
// one loaded, else the one that would be.
func (a *app) configPath() string {
	switch {
	case a.confLoaded != "":
		return a.confLoaded
	case a.confPath != "":
		return a.confPath
	case a.env.Getenv("WAREWULFCONF") != "":
		return a.env.Getenv("WAREWULFCONF")
	}
	return config.DefaultPath
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
