package bmc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/test/redfishsim"
)

func rfTarget(b *redfishsim.BMC) bmc.Target {
	return bmc.Target{Node: "n1", Ipaddr: b.Host, Port: strconv.Itoa(b.Port), UserName: b.User, Password: b.Password, Interface: "redfish"}
}

func rfDo(t *testing.T, tg bmc.Target, o bmc.Options, r bmc.Request) (bmc.Answer, error) {
	t.Helper()
	d, err := bmc.New(tg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return bmc.Do(ctx, d, r)
}

// Every power action, boot device and identify over HTTPS, the
// certificate verified against the CA file: what the machine was asked
// and what the BMC shows after.
func TestRedfishWithSimulator(t *testing.T) {
	m := redfishsim.NewMemory()
	b := redfishsim.Start(t, m, redfishsim.Options{})
	tg, o := rfTarget(b), bmc.Options{RedfishCA: b.CAFile}
	status := func() bmc.PowerState {
		t.Helper()
		a, err := rfDo(t, tg, o, bmc.Request{Op: bmc.OpStatus})
		if err != nil {
			t.Fatalf("power status: %v", err)
		}
		return a.Power
	}
	if got := status(); got != bmc.PowerOff {
		t.Errorf("power status of a new BMC = %q, want off", got)
	}
	steps := []struct {
		name   string
		req    bmc.Request
		resets []string
		power  bmc.PowerState
		boot   redfishsim.Boot
		ident  bool
	}{
		{"on", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}, []string{"On"}, bmc.PowerOn, redfishsim.Boot{Target: "None", Enabled: "Disabled"}, false},
		{"off", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOff}, []string{"ForceOff"}, bmc.PowerOff, redfishsim.Boot{Target: "None", Enabled: "Disabled"}, false},
		{"cycle", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionCycle}, []string{"PowerCycle"}, bmc.PowerOn, redfishsim.Boot{Target: "None", Enabled: "Disabled"}, false},
		{"reset", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionReset}, []string{"ForceRestart"}, bmc.PowerOn, redfishsim.Boot{Target: "None", Enabled: "Disabled"}, false},
		{"soft", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionSoft}, []string{"GracefulShutdown"}, bmc.PowerOff, redfishsim.Boot{Target: "None", Enabled: "Disabled"}, false},
		{"bootdev pxe", bmc.Request{Op: bmc.OpBootDev, Device: bmc.BootPXE}, nil, bmc.PowerOff, redfishsim.Boot{Target: "Pxe", Enabled: "Once"}, false},
		{"bootdev disk persistent", bmc.Request{Op: bmc.OpBootDev, Device: bmc.BootDisk, Persistent: true}, nil, bmc.PowerOff, redfishsim.Boot{Target: "Hdd", Enabled: "Continuous"}, false},
		{"bootdev bios", bmc.Request{Op: bmc.OpBootDev, Device: bmc.BootBIOS}, nil, bmc.PowerOff, redfishsim.Boot{Target: "BiosSetup", Enabled: "Once"}, false},
		{"identify on", bmc.Request{Op: bmc.OpIdentify, On: true}, nil, bmc.PowerOff, redfishsim.Boot{Target: "BiosSetup", Enabled: "Once"}, true},
		{"identify off", bmc.Request{Op: bmc.OpIdentify}, nil, bmc.PowerOff, redfishsim.Boot{Target: "BiosSetup", Enabled: "Once"}, false},
		// The Once override is used by the next boot.
		{"on after bootdev", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}, []string{"On"}, bmc.PowerOn, redfishsim.Boot{Target: "None", Enabled: "Disabled"}, false},
	}
	for _, s := range steps {
		before := len(m.Resets())
		if _, err := rfDo(t, tg, o, s.req); err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		if diff := cmp.Diff(s.resets, m.Resets()[before:], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: resets (-want +got):\n%s", s.name, diff)
		}
		if got := status(); got != s.power {
			t.Errorf("%s: power status after = %q, want %q", s.name, got, s.power)
		}
		if diff := cmp.Diff(s.boot, m.Boot()); diff != "" {
			t.Errorf("%s: boot override (-want +got):\n%s", s.name, diff)
		}
		if m.Identify() != s.ident {
			t.Errorf("%s: identify = %v, want %v", s.name, m.Identify(), s.ident)
		}
	}
	if got := m.Boots()[len(m.Boots())-1]; got != (redfishsim.Boot{Target: "BiosSetup", Enabled: "Once"}) {
		t.Errorf("the last boot had override %+v, want BiosSetup Once", got)
	}
}

// A BMC without PowerCycle is cycled by ForceOff then On; one with
// IndicatorLED only has it set Lit and Off; a node's "redfish system" tag
// picks its system on a BMC with several.
func TestRedfishVariants(t *testing.T) {
	cases := []struct {
		name   string
		opts   redfishsim.Options
		tags   map[string]string
		req    bmc.Request
		resets []string
		ident  bool
	}{
		{"cycle without PowerCycle", redfishsim.Options{ResetTypes: []string{"On", "ForceOff", "GracefulShutdown", "ForceRestart"}},
			nil, bmc.Request{Op: bmc.OpPower, Action: bmc.ActionCycle}, []string{"ForceOff", "On"}, false},
		{"on as ForceOn", redfishsim.Options{ResetTypes: []string{"ForceOn", "ForceOff"}},
			nil, bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}, []string{"ForceOn"}, false},
		{"IndicatorLED", redfishsim.Options{IndicatorLEDOnly: true}, nil, bmc.Request{Op: bmc.OpIdentify, On: true}, nil, true},
		{"system tag", redfishsim.Options{Systems: []string{"1", "2"}}, map[string]string{bmc.SystemTag: "2"},
			bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}, []string{"On"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := redfishsim.NewMemory()
			b := redfishsim.Start(t, m, c.opts)
			tg := rfTarget(b)
			tg.Tags = c.tags
			if _, err := rfDo(t, tg, bmc.Options{RedfishCA: b.CAFile}, c.req); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.resets, m.Resets(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("resets (-want +got):\n%s", diff)
			}
			if m.Identify() != c.ident {
				t.Errorf("identify = %v, want %v", m.Identify(), c.ident)
			}
		})
	}
}

// The sensors, from Thermal and Power or from the Sensors collection,
// read as the IPMI driver shows them.
func TestRedfishSensors(t *testing.T) {
	th := func(lnr, lcr, lnc, unc, ucr, unr string) map[string]string {
		return map[string]string{"lnr": lnr, "lcr": lcr, "lnc": lnc, "unc": unc, "ucr": ucr, "unr": unr}
	}
	short := []bmc.Sensor{
		{Name: "CPU Temp", Type: "Temperature", Reading: "45", Unit: "degrees C", Status: "ok"},
		{Name: "PSU2 Temp", Type: "Temperature", Reading: "na", Status: "N/A"},
		{Name: "Fan 1", Type: "Fan", Reading: "3600", Unit: "RPM", Status: "ok"},
		{Name: "12V", Type: "Voltage", Reading: "12.1", Unit: "Volts", Status: "ok"},
	}
	full := []bmc.Sensor{
		{Name: "CPU Temp", Type: "Temperature", Reading: "45", Unit: "degrees C", Status: "ok", Thresholds: th("na", "5", "na", "80", "90", "95")},
		{Name: "PSU2 Temp", Type: "Temperature", Reading: "na", Status: "N/A", Thresholds: th("na", "na", "na", "na", "na", "na")},
		{Name: "Fan 1", Type: "Fan", Reading: "3600", Unit: "RPM", Status: "ok", Thresholds: th("na", "500", "na", "na", "na", "na")},
		{Name: "12V", Type: "Voltage", Reading: "12.1", Unit: "Volts", Status: "ok", Thresholds: th("na", "10.8", "na", "na", "13.2", "na")},
	}
	// The Sensors collection keeps the machine's order.
	order := func(s []bmc.Sensor) []bmc.Sensor { return []bmc.Sensor{s[0], s[2], s[1], s[3]} }
	cases := []struct {
		name string
		opts redfishsim.Options
		full bool
		want []bmc.Sensor
	}{
		{"thermal and power", redfishsim.Options{}, false, short},
		{"thermal and power full", redfishsim.Options{}, true, full},
		{"sensors collection", redfishsim.Options{SensorsCollection: true}, false, order(short)},
		{"sensors collection full", redfishsim.Options{SensorsCollection: true}, true, order(full)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := redfishsim.Start(t, redfishsim.NewMemory(), c.opts)
			a, err := rfDo(t, rfTarget(b), bmc.Options{RedfishCA: b.CAFile}, bmc.Request{Op: bmc.OpSensors, Full: c.full})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, a.Sensors); diff != "" {
				t.Errorf("sensors (-want +got):\n%s", diff)
			}
		})
	}
}

// serve runs an HTTPS server with h on loopback and returns its port.
func serve(t *testing.T, h http.HandlerFunc) int {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// silent accepts connections and never answers.
func silent(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// Each way a Redfish BMC fails: the cause, named, within the deadline,
// and never the password.
func TestRedfishFailures(t *testing.T) {
	b := redfishsim.Start(t, redfishsim.NewMemory(), redfishsim.Options{})
	two := redfishsim.Start(t, redfishsim.NewMemory(), redfishsim.Options{Systems: []string{"1", "2"}})
	other := redfishsim.Start(t, redfishsim.NewMemory(), redfishsim.Options{})
	at := func(port int) bmc.Target {
		tg := rfTarget(b)
		tg.Port = strconv.Itoa(port)
		return tg
	}
	html := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Welcome to nginx!</body></html>"))
	})
	notFound := serve(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	truncated := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"RedfishVersion": "1.8.0", "Systems": {"@odata.id": "/redfish/v1/Sys`))
	})
	plain := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plain.Close)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	badCA := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongPassword := rfTarget(b)
	wrongPassword.Password = "wrong-secret"
	const timeout = 2 * time.Second
	cases := []struct {
		name   string
		target bmc.Target
		opts   bmc.Options
		kind   error  // nil: no error
		text   string // in the error
	}{
		{"verified with the CA file", rfTarget(b), bmc.Options{RedfishCA: b.CAFile}, nil, ""},
		{"insecure", rfTarget(b), bmc.Options{RedfishInsecure: true}, nil, ""},
		{"system roots", rfTarget(b), bmc.Options{}, bmc.ErrCertificate, "x509: certificate signed by unknown authority; set warewulf.conf's ipmi: redfish ca:"},
		{"another BMC's CA file", rfTarget(b), bmc.Options{RedfishCA: other.CAFile}, bmc.ErrCertificate, "GET /redfish/v1/: certificate not trusted"},
		{"CA file without certificates", rfTarget(b), bmc.Options{RedfishCA: badCA}, nil, "ipmi.redfish ca: " + badCA + " holds no PEM certificate"},
		{"wrong password", wrongPassword, bmc.Options{RedfishCA: b.CAFile}, bmc.ErrAuth, "GET /redfish/v1/Systems: authentication failed (wrong user name or password: HTTP 401)"},
		{"never answers", at(silent(t)), bmc.Options{RedfishInsecure: true}, bmc.ErrTimeout, "GET /redfish/v1/: timeout (no answer in time)"},
		{"HTML", at(html), bmc.Options{RedfishInsecure: true}, bmc.ErrBadAnswer, "GET /redfish/v1/: invalid answer (not a Redfish service: not JSON: invalid character '<'"},
		{"404", at(notFound), bmc.Options{RedfishInsecure: true}, bmc.ErrBadAnswer, "GET /redfish/v1/: invalid answer (not a Redfish service: HTTP 404: 404 page not found)"},
		{"truncated JSON", at(truncated), bmc.Options{RedfishInsecure: true}, bmc.ErrBadAnswer, "not a Redfish service: not JSON: unexpected EOF"},
		{"plain HTTP", at(plain.Listener.Addr().(*net.TCPAddr).Port), bmc.Options{RedfishInsecure: true}, bmc.ErrBadAnswer, "does not speak HTTPS"},
		{"connection refused", at(refused), bmc.Options{RedfishInsecure: true}, bmc.ErrConnect, "connection refused: is 127.0.0.1:" + strconv.Itoa(refused) + " the BMC's Redfish HTTPS port?"},
		{"two systems", rfTarget(two), bmc.Options{RedfishCA: two.CAFile}, nil, `the BMC has 2 systems (1, 2): set the node's ipmi tag "redfish system" to one of them`},
		{"no such system", func() bmc.Target {
			tg := rfTarget(b)
			tg.Tags = map[string]string{bmc.SystemTag: "9"}
			return tg
		}(), bmc.Options{RedfishCA: b.CAFile}, nil, `the BMC has no system "9" (ipmi tag "redfish system"); its systems: 1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := bmc.New(c.target, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			_, err = d.PowerStatus(ctx)
			took := time.Since(start)
			switch {
			case c.text == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case c.text != "" && (err == nil || !strings.Contains(err.Error(), c.text)):
				t.Errorf("error %v, want one with %q", err, c.text)
			case c.kind != nil && !errors.Is(err, c.kind):
				t.Errorf("error %v is not %v", err, c.kind)
			}
			if err != nil && strings.Contains(err.Error(), c.target.Password) {
				t.Errorf("error %q tells the password", err)
			}
			if took > timeout+time.Second {
				t.Errorf("took %v, more than the %v deadline", took, timeout)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
		})
	}
}

// The interface picks the driver; an unknown one is named.
func TestInterfaceChoice(t *testing.T) {
	cases := []struct {
		intf, want, err string
	}{
		{"redfish", "redfish admin@https://10.0.0.1:443: power status", ""},
		{"Redfish", "redfish admin@https://10.0.0.1:443: power status", ""},
		{"lanplus", "ipmi lanplus admin@10.0.0.1:623: power status", ""},
		{"", "ipmi lanplus admin@10.0.0.1:623: power status", ""},
		{"lan", "ipmi lan admin@10.0.0.1:623: power status", ""},
		{"serial", "", `ipmi interface "serial": not supported (want lanplus, lan or redfish)`},
	}
	for _, c := range cases {
		t.Run(c.intf, func(t *testing.T) {
			d, err := bmc.New(bmc.Target{Node: "n1", Ipaddr: "10.0.0.1", UserName: "admin", Password: "pw", Interface: c.intf}, bmc.Options{})
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Errorf("New: error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Describe(bmc.Request{Op: bmc.OpStatus}); got != c.want {
				t.Errorf("Describe = %q, want %q", got, c.want)
			}
		})
	}
}
