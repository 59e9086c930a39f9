package e2e

import (
	"context"
	"debug/elf"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/config"
)

// ipxeMarker is what the embedded script of the custom iPXE prints.
const ipxeMarker = "WWBOOT-CUSTOM-IPXE embedded script runs"

// markerScript prints the marker and then does what stock iPXE does
// after TFTP: DHCP again (iPXE's user class: the daemon's script URL) and
// chain the daemon's /ipxe/ script.
const markerScript = "#!ipxe\n" +
	"echo " + ipxeMarker + "\n" +
	"dhcp\n" +
	"chain http://${next-server}:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}\n"

// vlanScript is the lead's VLAN scenario's script: VLAN 1000 on the
// first NIC, DHCP on it, then the daemon's script.
const vlanScript = "#!ipxe\n" +
	"vcreate --tag 1000 net0\n" +
	"dhcp net0-1000\n" +
	"chain http://${net0-1000/next-server}:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}\n"

func needIpxeBuild(t *testing.T) (context.Context, string) {
	t.Helper()
	needFull(t, "building iPXE takes minutes the first time")
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	t.Cleanup(cancel)
	cache := os.Getenv(envCache)
	if cache == "" {
		cache = DefaultCacheDir
	}
	src, err := IpxeSource(ctx, cache, testLogger(t))
	if err != nil {
		t.Skipf("no iPXE source to build: %v", err)
	}
	return ctx, src
}

// Scenario x: a UEFI node without the NIC's ROM boots through a custom
// snponly.efi that "wwctl ipxe build" made with an embedded script and
// wrote into tftp.ipxe: the firmware's PXE gets it over TFTP from the
// daemon, its script prints the marker, asks DHCP and chains the daemon's
// /ipxe/ script, and the node boots to its runtime overlay.
func TestCustomIPXE(t *testing.T) {
	ctx, src := needIpxeBuild(t)
	tc := newTestCluster(t, updateInterval)
	script := filepath.Join(t.TempDir(), "marker.ipxe")
	if err := os.WriteFile(script, []byte(markerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "ipxe")
	start := time.Now()
	// Debian 12's iPXE is of 2019: gcc 12 warns where it has -Werror.
	out, err := tc.Wwctl(ctx, "ipxe", "build", "--source", src, "--targets", "bin-x86_64-efi/snponly.efi",
		"--embed", script, "--destdir", dest, "--update-config", "--", "NO_WERROR=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wwctl ipxe build bin-x86_64-efi/snponly.efi: %.0f s\n%s", time.Since(start).Seconds(), out)
	built := filepath.Join(dest, "bin-x86_64-efi-snponly.efi")
	cfg, _, err := config.Load(tc.Conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"00:07", "00:09"} {
		if got := cfg.Tftp.IpxeBinaries[code]; got != built {
			t.Errorf("tftp.ipxe %s = %q after the build, want %q", code, got, built)
		}
	}
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:31", "192.0.2.31"
	tc.addNodes(ctx, "bb", node{name: "x1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "x1", MAC: mac, Firmware: UEFI, NoROM: true})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`Start PXE over IPv4`),
		regexp.MustCompile(`iPXE .*Open Source Network Boot Firmware`),
		regexp.MustCompile(regexp.QuoteMeta(ipxeMarker)),
		regexp.MustCompile(`wwboot now booting x1`),
	} {
		if _, _, err := vm.Console.Wait(bootCtx, re); err != nil {
			t.Fatalf("x1: %v", err)
		}
	}
	tc.waitBooted(bootCtx, vm, "x1", ip)
	tc.logTimings(map[string]*VM{"x1": vm})
}

// The VLAN scenario's iPXE builds: undionly.kpxe with a script that
// tags VLAN 1000, its vcreate command compiled in (VLAN_CMD, which
// Debian's 2019 tree leaves off: the build's config/local/wwboot turns it
// on) and the script embedded.
func TestCustomIPXEVLANBuild(t *testing.T) {
	ctx, src := needIpxeBuild(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "vlan.ipxe")
	if err := os.WriteFile(script, []byte(vlanScript), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "warewulf.conf")
	if err := os.WriteFile(conf, []byte("ipaddr: 192.0.2.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := wwctlCommand(ctx, t, "--warewulfconf", conf, "ipxe", "build", "--source", src,
		"--targets", "bin-x86_64-pcbios/undionly.kpxe", "--embed", script, "--destdir", filepath.Join(dir, "ipxe"), "--yes", "--", "NO_WERROR=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("wwctl ipxe build bin-x86_64-pcbios/undionly.kpxe: %.0f s", time.Since(start).Seconds())
	if st, err := os.Stat(filepath.Join(dir, "ipxe", "bin-x86_64-pcbios-undionly.kpxe")); err != nil || st.Size() < 32<<10 {
		t.Fatalf("built undionly.kpxe: %v", err)
	}
	// The linked, uncompressed program make keeps beside the binary.
	f, err := elf.Open(filepath.Join(sourceSrc(src), "bin-x86_64-pcbios", "undionly.kpxe.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(syms, func(s elf.Symbol) bool { return s.Name == "obj_vlan_cmd" }) {
		t.Errorf("undionly.kpxe has no VLAN commands (obj_vlan_cmd)")
	}
	data, err := os.ReadFile(filepath.Join(sourceSrc(src), "bin-x86_64-pcbios", "undionly.kpxe.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), vlanScript) {
		t.Errorf("undionly.kpxe does not hold the embedded script")
	}
	cfg, _, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Tftp.IpxeBinaries["00:00"], filepath.Join(dir, "ipxe", "bin-x86_64-pcbios-undionly.kpxe"); got != want {
		t.Errorf("tftp.ipxe 00:00 = %q, want %q", got, want)
	}
}

func sourceSrc(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, "src", "Makefile")); err == nil {
		return filepath.Join(dir, "src")
	}
	return dir
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// wwctlCommand is wwctl of the tests' binaries with args.
func wwctlCommand(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	return exec.CommandContext(ctx, filepath.Join(binaries(t), "wwctl"), args...)
}
