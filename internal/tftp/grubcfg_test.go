package tftp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// grubAssetKeyRead is how a GRUB script reads the asset key: the
// chassis asset tag's string only when the firmware has one (its
// number, field 8 of SMBIOS type 3, is not 0). AAVMF has none, and
// reading it unguarded printed "error: failed to retrieve the structure
// field." on every arm64 node's console.
const grubAssetKeyRead = `set assetkey=""
set assettag=0
smbios --type 3 --get-byte 8 --set assettag
if [ "${assettag}" != 0 ]; then
    smbios --type 3 --get-string 8 --set assetkey
fi
`

// TestGrubConfigAssetKey: GRUB's first configuration, by TFTP and by
// HTTP, reads the asset key only when the firmware has one, and GRUB's
// own checker (grub-script-check, when installed) accepts it.
func TestGrubConfigAssetKey(t *testing.T) {
	tests := []struct {
		name     string
		viaTFTP  bool
		wantConf string
	}{
		{name: "by TFTP", viaTFTP: true, wantConf: `configfile "(tftp,192.0.2.1)/grub/`},
		{name: "by HTTP", viaTFTP: false, wantConf: `configfile "(http,192.0.2.1:9873)/grub/`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := string(GrubConfig("192.0.2.1:9873", tc.viaTFTP))
			if !strings.Contains(script, grubAssetKeyRead) {
				t.Errorf("the script does not read the asset key as\n%s\nit is:\n%s", grubAssetKeyRead, script)
			}
			for _, l := range strings.Split(script, "\n") {
				if strings.HasPrefix(l, "smbios") && strings.Contains(l, "--get-string") {
					t.Errorf("unguarded asset tag string read: %s", l)
				}
			}
			if !strings.Contains(script, tc.wantConf) {
				t.Errorf("the script lacks %q:\n%s", tc.wantConf, script)
			}
			grubScriptCheck(t, script)
		})
	}
}

// grubScriptCheck runs GRUB's script checker on script, when installed
// (Debian's grub-common).
func grubScriptCheck(t *testing.T, script string) {
	t.Helper()
	check, err := exec.LookPath("grub-script-check")
	if err != nil {
		t.Log("grub-script-check is not installed: GRUB's syntax not checked")
		return
	}
	f := filepath.Join(t.TempDir(), "grub.cfg")
	if err := os.WriteFile(f, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, check, f).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check: %v: %s", err, out)
	}
}
