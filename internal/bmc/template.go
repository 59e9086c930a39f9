package bmc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
)

// templateDriver runs a Warewulf BMC command template: the file is a Go
// template with sprig's functions, rendered with the node's ipmi fields
// and .Cmd (PowerOn, PowerOff, PowerCycle, PowerReset, PowerSoft,
// PowerStatus, SDRList, SensorList, and Console, run interactively),
// whose text is run with /bin/sh -c, as Warewulf's internal/pkg/bmc does. The boot device and the identify
// light, which Warewulf's templates do not know, are .Cmd BootDevice
// (with .BootDevice and .Persistent), IdentifyOn and IdentifyOff: a
// template that renders nothing of its own for them does not support
// them.
type templateDriver struct {
	t    Target
	path string
}

// templateData are the names a template sees: Warewulf's IpmiConf fields,
// ShowOnly and Cmd, and ours for the boot device.
type templateData struct {
	UserName, Password, Ipaddr, Netmask, Port, Gateway string
	Interface, EscapeChar, Write, Template             string
	Tags                                               map[string]string
	ShowOnly                                           bool
	Cmd                                                string
	BootDevice                                         string
	Persistent                                         bool
}

func newTemplate(t Target, o Options) (*templateDriver, error) {
	p := t.Template
	if !strings.HasPrefix(p, "/") {
		p = filepath.Join(o.Datadir, "warewulf", "bmc", p)
	}
	return &templateDriver{t: t, path: p}, nil
}

// render returns the command line of cmd, with the password masked when
// masked is set.
func (d *templateDriver) render(cmd string, r Request, masked bool) (string, error) {
	text, err := os.ReadFile(d.path)
	if err != nil {
		return "", fmt.Errorf("ipmi template: %w", err)
	}
	tmpl, err := template.New(filepath.Base(d.path)).Funcs(sprig.TxtFuncMap()).Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("ipmi template %s: %w", d.path, err)
	}
	data := templateData{
		UserName: d.t.UserName, Password: d.t.Password, Ipaddr: d.t.Ipaddr, Netmask: d.t.Netmask,
		Port: d.t.Port, Gateway: d.t.Gateway, Interface: d.t.Interface, EscapeChar: d.t.EscapeChar,
		Write: d.t.Write, Template: d.t.Template, Tags: d.t.Tags, ShowOnly: masked, Cmd: cmd,
		BootDevice: string(r.Device), Persistent: r.Persistent,
	}
	if masked && data.Password != "" {
		data.Password = "*****"
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("ipmi template %s: %w", d.path, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// command is the template's .Cmd for r.
func command(r Request) string {
	switch r.Op {
	case OpStatus:
		return "PowerStatus"
	case OpPower:
		return map[PowerAction]string{ActionOn: "PowerOn", ActionOff: "PowerOff", ActionCycle: "PowerCycle",
			ActionReset: "PowerReset", ActionSoft: "PowerSoft"}[r.Action]
	case OpBootDev:
		return "BootDevice"
	case OpIdentify:
		if r.On {
			return "IdentifyOn"
		}
		return "IdentifyOff"
	case OpSensors:
		if r.Full {
			return "SensorList"
		}
		return "SDRList"
	}
	return ""
}

// commandLine renders r's command, refusing one the template does not
// define (it renders the same as no command at all).
func (d *templateDriver) commandLine(r Request, masked bool) (string, error) {
	return d.templateCommand(command(r), r, masked)
}

// templateCommand renders .Cmd cmd, refusing one the template does not
// define.
func (d *templateDriver) templateCommand(cmd string, r Request, masked bool) (string, error) {
	line, err := d.render(cmd, r, masked)
	if err != nil {
		return "", err
	}
	none, err := d.render("", r, masked)
	if err != nil {
		return "", err
	}
	if line == "" || line == none {
		return "", fmt.Errorf("ipmi template %s has no %s command: %s %w", d.path, cmd, r, ErrUnsupported)
	}
	return line, nil
}

// run runs r's command and returns its output.
func (d *templateDriver) run(ctx context.Context, r Request) (string, error) {
	line, err := d.commandLine(r, false)
	if err != nil {
		return "", err
	}
	c := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	// The whole process group goes at the deadline: an ipmitool started
	// by the shell must not outlive it.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = time.Second
	out, err := c.CombinedOutput()
	text := strings.TrimSpace(string(out))
	if ctx.Err() != nil {
		return text, fmt.Errorf("%s: %w (the template's command did not finish in time)", command(r), ErrTimeout)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return text, fmt.Errorf("%s: %w: %s: %s", command(r), ErrRefused, ee, firstLine(text))
		}
		return text, fmt.Errorf("%s: %w", command(r), err)
	}
	return text, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return cleanText(s)
}

func (d *templateDriver) PowerStatus(ctx context.Context) (PowerState, error) {
	out, err := d.run(ctx, Request{Op: OpStatus})
	if err != nil {
		return "", err
	}
	st, ok := ParsePowerStatus(out)
	if !ok {
		return "", fmt.Errorf("PowerStatus: %w: %q says neither on nor off", ErrBadAnswer, firstLine(out))
	}
	return st, nil
}

func (d *templateDriver) Power(ctx context.Context, a PowerAction) error {
	_, err := d.run(ctx, Request{Op: OpPower, Action: a})
	return err
}

func (d *templateDriver) SetBootDevice(ctx context.Context, dev BootDevice, persistent bool) error {
	_, err := d.run(ctx, Request{Op: OpBootDev, Device: dev, Persistent: persistent})
	return err
}

func (d *templateDriver) Identify(ctx context.Context, on bool) error {
	_, err := d.run(ctx, Request{Op: OpIdentify, On: on})
	return err
}

func (d *templateDriver) Sensors(ctx context.Context, full bool) ([]Sensor, error) {
	out, err := d.run(ctx, Request{Op: OpSensors, Full: full})
	if err != nil {
		return nil, err
	}
	return ParseSensorLines(out), nil
}

// Console runs the template's Console command ("ipmitool ... sol
// activate" in Warewulf's ipmitool.tmpl) with in, out and o.Messages as
// its stdin, stdout and stderr, as Warewulf runs it: the command handles
// the terminal and the escape sequences itself. When ctx ends it gets
// SIGTERM (ipmitool then releases the console), and SIGKILL 5 s later.
func (d *templateDriver) Console(ctx context.Context, in io.Reader, out io.Writer, o ConsoleOptions) error {
	line, err := d.templateCommand("Console", Request{Op: OpConsole}, false)
	if err != nil {
		return err
	}
	c := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	// In the terminal's process group, unlike the other commands: the
	// console reads the terminal.
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 5 * time.Second
	c.Stdin, c.Stdout, c.Stderr = in, out, o.Messages
	if o.Messages == nil {
		c.Stderr = io.Discard
	}
	err = c.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("Console: %w", context.Cause(ctx))
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("Console: the template's command failed: %w: %s", ErrRefused, ee)
		}
		return fmt.Errorf("Console: %w", err)
	}
	return nil
}

func (d *templateDriver) Describe(r Request) string {
	line, err := d.commandLine(r, true)
	if err != nil {
		return err.Error()
	}
	return line
}

// ParsePowerStatus reads a power status command's answer ("Chassis Power
// is on", "ON"): the last word that is on or off, in any case.
func ParsePowerStatus(out string) (PowerState, bool) {
	words := strings.FieldsFunc(strings.ToLower(out), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
	for i := len(words) - 1; i >= 0; i-- {
		switch words[i] {
		case "on":
			return PowerOn, true
		case "off":
			return PowerOff, true
		}
	}
	return "", false
}

// ParseSensorLines reads the sensor listings of ipmitool, as Warewulf's
// ipmitool.tmpl runs it: "sdr list" lines (name | reading unit |
// status) and "sensor list" lines (name | reading | unit | status | lnr
// | lcr | lnc | unc | ucr | unr). A line of another form is kept whole
// as the name, so that nothing a template prints is lost.
func ParseSensorLines(out string) []Sensor {
	var ss []Sensor
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "|")
		for i := range f {
			f[i] = cleanText(f[i])
		}
		var s Sensor
		switch {
		case len(f) == 3:
			reading, unit, _ := strings.Cut(f[1], " ")
			s = Sensor{Name: f[0], Reading: reading, Unit: strings.TrimSpace(unit), Status: f[2]}
			if strings.HasPrefix(f[1], "no reading") || f[1] == "" {
				s.Reading, s.Unit = "na", ""
			}
		case len(f) >= 4:
			s = Sensor{Name: f[0], Reading: f[1], Unit: f[2], Status: f[3]}
			if len(f) >= 10 {
				s.Thresholds = map[string]string{}
				for i, n := range ThresholdNames() {
					s.Thresholds[n] = f[4+i]
				}
			}
		default:
			s = Sensor{Name: cleanText(line)}
		}
		if s.Reading == "" {
			s.Reading = "na"
		}
		ss = append(ss, s)
	}
	return ss
}
