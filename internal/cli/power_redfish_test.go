package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/test/redfishsim"
)

// wwctl power against a Redfish BMC (ipmi interface: redfish), its
// certificate verified with warewulf.conf's ipmi.redfish ca; r2's BMC has
// a certificate from another CA.
func TestPowerWithRedfish(t *testing.T) {
	m := redfishsim.NewMemory()
	b := redfishsim.Start(t, m, redfishsim.Options{})
	other := redfishsim.Start(t, redfishsim.NewMemory(), redfishsim.Options{})
	conf := filepath.Join(t.TempDir(), "nodes.conf")
	node := func(name string, bmc *redfishsim.BMC) string {
		return fmt.Sprintf("  %s:\n    ipmi:\n      ipaddr: 127.0.0.1\n      port: \"%d\"\n      username: %s\n      password: %s\n      interface: redfish\n",
			name, bmc.Port, bmc.User, bmc.Password)
	}
	if err := os.WriteFile(conf, []byte("nodeprofiles:\n  default: {}\nnodes:\n"+node("r1", b)+node("r2", other)), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, conf)
	tr.appendConf("ipmi:\n  timeout: 5\n  redfish ca: " + b.CAFile + "\n")
	norm := strings.NewReplacer(strconv.Itoa(b.Port), "PORT", strconv.Itoa(other.Port), "OTHER").Replace
	steps := []struct {
		args []string
		out  string
		err  string
	}{
		{args: []string{"power", "status", "r1"}, out: "NODE BMC RESULT\nr1 127.0.0.1:PORT off\n"},
		{args: []string{"power", "on", "r1"}, out: "NODE BMC RESULT\nr1 127.0.0.1:PORT ok\n"},
		{args: []string{"power", "status", "r[1-2]"},
			out: "NODE BMC RESULT\nr1 127.0.0.1:PORT on\n" +
				"r2 127.0.0.1:OTHER error: GET /redfish/v1/: certificate not trusted (x509: certificate signed by unknown authority " +
				"(possibly because of \"x509: ECDSA verification failure\" while trying to verify candidate authority certificate \"redfishsim test CA\"); " +
				"set warewulf.conf's ipmi: redfish ca: to a PEM file of the BMC's certificate or of the CA that signed it)\n",
			err: "power status: 1 of 2 nodes failed: r2"},
		{args: []string{"power", "off", "r1", "--show"},
			out: "NODE BMC WOULD SEND\nr1 127.0.0.1:PORT redfish admin@https://127.0.0.1:PORT: power off\n"},
		{args: []string{"power", "bootdev", "pxe", "r1"}, out: "NODE BMC RESULT\nr1 127.0.0.1:PORT ok\n"},
		{args: []string{"node", "sensors", "r1"},
			out: "NODE SENSOR READING UNIT STATUS\nr1 CPU Temp 45 degrees C ok\nr1 PSU2 Temp na -- N/A\nr1 Fan 1 3600 RPM ok\nr1 12V 12.1 Volts ok\n"},
	}
	for _, s := range steps {
		out, _, err := tr.run("", s.args...)
		name := strings.Join(s.args, " ")
		if diff := cmp.Diff(squeeze(s.out), squeeze(norm(out))); diff != "" {
			t.Errorf("wwctl %s: stdout (-want +got):\n%s", name, diff)
		}
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != s.err {
			t.Errorf("wwctl %s: error %q, want %q", name, gotErr, s.err)
		}
	}
	if diff := cmp.Diff([]string{"On"}, m.Resets()); diff != "" {
		t.Errorf("resets (-want +got):\n%s", diff)
	}
	if got := m.Boot(); got != (redfishsim.Boot{Target: "Pxe", Enabled: "Once"}) {
		t.Errorf("boot override %+v, want Pxe Once", got)
	}
}
