package bmc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
)

// testTemplate answers PowerStatus as its node's tag "mode" says: on, a
// junk answer, a failing command, or one that never ends (recording its
// shell's PID, which leads its process group). SDRList prints one
// sensor; PowerOn writes the password where the tag "out" says. It
// defines no identify command.
const testTemplate = `{{- if eq .Cmd "PowerStatus" -}}
{{- if eq .Tags.mode "on" }}echo "Chassis Power is on"{{ end -}}
{{- if eq .Tags.mode "junk" }}echo "Error: Unable to establish session"; echo "HTTP/1.0 200 OK"{{ end -}}
{{- if eq .Tags.mode "fail" }}echo "Unable to get Chassis Power Status" >&2; exit 3{{ end -}}
{{- if eq .Tags.mode "slow" }}echo $$ > {{ .Tags.pid }}; sleep 30; echo done{{ end -}}
{{- end -}}
{{- if eq .Cmd "PowerOn" }}echo "{{ .Password }}" > {{ .Tags.out }}{{ end -}}
{{- if eq .Cmd "SDRList" }}printf 'CPU Temp         | 45 degrees C      | ok\n'{{ end -}}
`

func templateTarget(t *testing.T, mode string) (bmc.Target, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "warewulf", "bmc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "warewulf", "bmc", "site.tmpl"), []byte(testTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	return bmc.Target{Node: "n1", Ipaddr: "192.0.2.9", UserName: "admin", Password: "s3cret", Template: "site.tmpl",
		Tags: map[string]string{"mode": mode, "pid": filepath.Join(dir, "pid"), "out": filepath.Join(dir, "out")}}, dir
}

// A site's "ipmi template" (named relative to datadir/warewulf/bmc) is
// rendered with the node's fields and run; each kind of failure of its
// command is an error of its own kind, with what the command said.
func TestTemplateDriver(t *testing.T) {
	cases := []struct {
		mode    string
		want    bmc.PowerState
		wantErr error
		msg     string // in the error
	}{
		{mode: "on", want: bmc.PowerOn},
		{mode: "junk", wantErr: bmc.ErrBadAnswer, msg: `"Error: Unable to establish session" says neither on nor off`},
		{mode: "fail", wantErr: bmc.ErrRefused, msg: "exit status 3: Unable to get Chassis Power Status"},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			tg, dir := templateTarget(t, c.mode)
			d, err := bmc.New(tg, bmc.Options{Datadir: dir})
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.PowerStatus(t.Context())
			if !errors.Is(err, c.wantErr) || err != nil && !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("PowerStatus: error %v, want %v with %q", err, c.wantErr, c.msg)
			}
			if got != c.want {
				t.Errorf("PowerStatus = %q, want %q", got, c.want)
			}
		})
	}

	tg, dir := templateTarget(t, "on")
	d, err := bmc.New(tg, bmc.Options{Datadir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Power(t.Context(), bmc.ActionOn); err != nil {
		t.Fatal(err)
	}
	if out, _ := os.ReadFile(filepath.Join(dir, "out")); string(out) != "s3cret\n" {
		t.Errorf("PowerOn's command did not get the password: wrote %q", out)
	}
	if desc := d.Describe(bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}); strings.Contains(desc, "s3cret") || !strings.Contains(desc, "*****") {
		t.Errorf("Describe shows the password or no mask: %q", desc)
	}
	sensors, err := d.Sensors(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(sensors) != 1 || sensors[0].Name != "CPU Temp" || sensors[0].Reading != "45" {
		t.Errorf("Sensors = %+v, want CPU Temp at 45", sensors)
	}
	if err := d.Identify(t.Context(), true); !errors.Is(err, bmc.ErrUnsupported) {
		t.Errorf("Identify with no IdentifyOn command: error %v, want %v", err, bmc.ErrUnsupported)
	}
}

// A template's command that does not end is stopped at the caller's
// deadline, with its whole process group (the sleep the shell started
// too), and says so.
func TestTemplateDriverTimeout(t *testing.T) {
	tg, dir := templateTarget(t, "slow")
	d, err := bmc.New(tg, bmc.Options{Datadir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	_, err = d.PowerStatus(ctx)
	took := time.Since(start)
	if !errors.Is(err, bmc.ErrTimeout) || !strings.Contains(err.Error(), "did not finish in time") {
		t.Fatalf("error %v, want %v", err, bmc.ErrTimeout)
	}
	// The deadline, and at most the second WaitDelay gives the output
	// pipes, with room for a loaded machine.
	if took > 5*time.Second {
		t.Errorf("took %v for a 1 s deadline", took)
	}
	data, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatalf("the command did not start: %v", err)
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t.Fatalf("process group %d outlived the deadline", pgid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A BMC whose answers carry a valid RMCP header but nothing IPMI can
// read fails within the deadline, saying that answers came back but none
// could be used (not that the BMC is silent, nor that the password was
// refused).
func TestIPMIJunkAfterRMCPHeader(t *testing.T) {
	answers := map[string][]byte{
		"header only":       {0x06, 0x00, 0xff, 0x07},
		"ipmi class, junk":  append([]byte{0x06, 0x00, 0xff, 0x07}, []byte("\x06\xc0\x00\x00\x00\x00junk that is no session")...),
		"asf class, junk":   append([]byte{0x06, 0x00, 0xff, 0x06}, []byte("\x00\x00\x11\xbe\x40\x00\x00\x10")...),
		"truncated session": {0x06, 0x00, 0xff, 0x07, 0x06, 0x11},
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tg := simTarget(bmcsim.Garbage(t, answer), "lanplus")
			d, err := bmc.New(tg, bmc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			const timeout = 3 * time.Second
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			_, err = d.PowerStatus(ctx)
			took := time.Since(start)
			if !errors.Is(err, bmc.ErrTimeout) || !strings.Contains(err.Error(), "came back in time, none a usable answer") {
				t.Errorf("error %v, want a timeout that says answers came back", err)
			}
			if took > timeout+2*time.Second {
				t.Errorf("took %v, beyond the %v deadline", took, timeout)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
		})
	}
}
