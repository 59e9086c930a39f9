// Package bmc talks to a node's baseboard management controller: power
// on, off, cycle, reset, soft and status, the boot device of the next (or
// every) boot, the identify light and the sensors. Three drivers implement
// it: IPMI over LAN in process (v2.0 "lanplus", v1.5 "lan"), Redfish over
// HTTPS in process ("redfish"), and Warewulf's command templates (a node's
// "ipmi template"), run with /bin/sh as Warewulf runs them.
//
// Every call is one exchange with the BMC (session, command, close), and
// is bounded by the caller's context: the site layer gives each BMC its
// own deadline (warewulf.conf's ipmi.timeout). The serial console
// (Consoler) is the exception: it lasts until its user leaves.
package bmc

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Driver is one BMC.
type Driver interface {
	PowerStatus(ctx context.Context) (PowerState, error)
	Power(ctx context.Context, a PowerAction) error
	SetBootDevice(ctx context.Context, d BootDevice, persistent bool) error
	Identify(ctx context.Context, on bool) error
	Sensors(ctx context.Context, full bool) ([]Sensor, error)
	// Describe says what Do would send for r, with no password, for
	// --show.
	Describe(r Request) string
}

// Consoler is a driver with a serial console (IPMI serial over LAN, or a
// template's Console command). A Driver that is not one has no console.
type Consoler interface {
	// Console connects in (what the user types) and out (the node's
	// serial output) to the node's serial port until the user leaves, in
	// ends, ctx ends or the BMC ends the session; the BMC's console is
	// released on every one of these.
	Console(ctx context.Context, in io.Reader, out io.Writer, o ConsoleOptions) error
}

// ConsoleOptions are how a console runs.
type ConsoleOptions struct {
	// Connect bounds opening the session and activating the console
	// (and, at the end, releasing it); 0 is no bound but ctx.
	Connect time.Duration
	// Force takes the console over when another session holds it (as
	// ipmitool's "sol deactivate" then "sol activate").
	Force bool
	// Messages gets the console's own messages (the escape help), in
	// raw-terminal form (CR LF), and a template command's stderr; nil
	// discards them.
	Messages io.Writer
	// Ready, when set, is called once the console is live, before any of
	// its output (to make the terminal raw and say how to leave). A
	// template's console command owns the terminal itself: Ready is not
	// called for it.
	Ready func()
}

// PowerState is what a BMC reports of the chassis power.
type PowerState string

// The power states.
const (
	PowerOn  PowerState = "on"
	PowerOff PowerState = "off"
)

// PowerAction is a chassis power control.
type PowerAction string

// The power actions, named as wwctl power's subcommands.
const (
	ActionOn    PowerAction = "on"
	ActionOff   PowerAction = "off"
	ActionCycle PowerAction = "cycle"
	ActionReset PowerAction = "reset"
	ActionSoft  PowerAction = "soft"
)

// PowerActions are the actions in the order wwctl lists them.
func PowerActions() []PowerAction {
	return []PowerAction{ActionOn, ActionOff, ActionCycle, ActionReset, ActionSoft}
}

// BootDevice is a boot device override.
type BootDevice string

// The boot devices.
const (
	BootPXE  BootDevice = "pxe"
	BootDisk BootDevice = "disk"
	BootBIOS BootDevice = "bios"
)

// BootDevices are the boot devices in the order wwctl lists them.
func BootDevices() []BootDevice { return []BootDevice{BootPXE, BootDisk, BootBIOS} }

// Sensor is one sensor's reading. Reading is "na" when the BMC has none.
type Sensor struct {
	Name    string `json:"name" yaml:"name"`
	Type    string `json:"type,omitempty" yaml:"type,omitempty"`
	Reading string `json:"reading" yaml:"reading"`
	Unit    string `json:"unit,omitempty" yaml:"unit,omitempty"`
	Status  string `json:"status" yaml:"status"`
	// Thresholds are the full listing's lower and upper non-recoverable,
	// critical and non-critical thresholds, by their short names (lnr,
	// lcr, lnc, unc, ucr, unr).
	Thresholds map[string]string `json:"thresholds,omitempty" yaml:"thresholds,omitempty"`
}

// ThresholdNames are the short names of Sensor.Thresholds, lowest first.
func ThresholdNames() []string { return []string{"lnr", "lcr", "lnc", "unc", "ucr", "unr"} }

// Op is what a Request asks.
type Op string

// The operations.
const (
	OpStatus   Op = "status"
	OpPower    Op = "power"
	OpBootDev  Op = "bootdev"
	OpIdentify Op = "identify"
	OpSensors  Op = "sensors"
	// OpConsole names the serial console in errors; Do does not run it
	// (see Consoler).
	OpConsole Op = "console"
)

// Request is one operation on a BMC.
type Request struct {
	Op Op `json:"op"`
	// Action is OpPower's.
	Action PowerAction `json:"action,omitempty"`
	// Device and Persistent are OpBootDev's.
	Device     BootDevice `json:"device,omitempty"`
	Persistent bool       `json:"persistent,omitempty"`
	// On is OpIdentify's.
	On bool `json:"on,omitempty"`
	// Full is OpSensors': thresholds too.
	Full bool `json:"full,omitempty"`
}

// Check reports a request that names no known action or device.
func (r Request) Check() error {
	switch r.Op {
	case OpStatus, OpIdentify, OpSensors:
		return nil
	case OpPower:
		for _, a := range PowerActions() {
			if r.Action == a {
				return nil
			}
		}
		return fmt.Errorf("unknown power action %q (want on, off, cycle, reset or soft)", r.Action)
	case OpBootDev:
		for _, d := range BootDevices() {
			if r.Device == d {
				return nil
			}
		}
		return fmt.Errorf("unknown boot device %q (want pxe, disk or bios)", r.Device)
	}
	return fmt.Errorf("unknown BMC operation %q", r.Op)
}

// String is the request as wwctl's words: "power on", "bootdev pxe
// persistent", "identify off", "sensors".
func (r Request) String() string {
	switch r.Op {
	case OpPower:
		return "power " + string(r.Action)
	case OpStatus:
		return "power status"
	case OpBootDev:
		if r.Persistent {
			return "bootdev " + string(r.Device) + " persistent"
		}
		return "bootdev " + string(r.Device)
	case OpIdentify:
		if r.On {
			return "identify on"
		}
		return "identify off"
	case OpSensors:
		if r.Full {
			return "sensors full"
		}
		return "sensors"
	}
	return string(r.Op)
}

// Answer is what a BMC answered to a Request.
type Answer struct {
	// Power is OpStatus's answer.
	Power PowerState `json:"power,omitempty"`
	// Sensors is OpSensors'.
	Sensors []Sensor `json:"sensors,omitempty"`
}

// Do runs r on d.
func Do(ctx context.Context, d Driver, r Request) (Answer, error) {
	if err := r.Check(); err != nil {
		return Answer{}, err
	}
	var a Answer
	var err error
	switch r.Op {
	case OpStatus:
		a.Power, err = d.PowerStatus(ctx)
	case OpPower:
		err = d.Power(ctx, r.Action)
	case OpBootDev:
		err = d.SetBootDevice(ctx, r.Device, r.Persistent)
	case OpIdentify:
		err = d.Identify(ctx, r.On)
	case OpSensors:
		a.Sensors, err = d.Sensors(ctx, r.Full)
	}
	return a, err
}

// The causes of failure a caller can tell apart with errors.Is.
var (
	// ErrNoAddress: the node has no "ipmi ipaddr".
	ErrNoAddress = errors.New("no ipmi ipaddr")
	// ErrTimeout: the BMC did not answer in time.
	ErrTimeout = errors.New("timeout")
	// ErrAuth: the BMC refused the user name or password.
	ErrAuth = errors.New("authentication failed")
	// ErrBadAnswer: the BMC answered something that is not a valid answer.
	ErrBadAnswer = errors.New("invalid answer")
	// ErrRefused: the BMC understood and refused the command (an IPMI
	// completion code, or a template's command that failed).
	ErrRefused = errors.New("refused")
	// ErrUnsupported: the driver cannot do this.
	ErrUnsupported = errors.New("not supported")
	// ErrBusy: another session holds the BMC's serial console.
	ErrBusy = errors.New("console in use")
	// ErrConnect: nothing accepted the connection (Redfish, over TCP).
	ErrConnect = errors.New("cannot connect")
	// ErrCertificate: the BMC's HTTPS certificate is not trusted (Redfish).
	ErrCertificate = errors.New("certificate not trusted")
)

// Target is a node's BMC, from its "ipmi" fields.
type Target struct {
	Node      string
	Ipaddr    string
	Port      string
	UserName  string
	Password  string
	Interface string
	// EscapeChar, Netmask, Gateway, Write and Tags are only given to
	// templates.
	EscapeChar string
	Netmask    string
	Gateway    string
	Write      string
	Tags       map[string]string
	Template   string
}

// DefaultPort is IPMI's UDP port.
const DefaultPort = 623

// DefaultRedfishPort is HTTPS's port, where Redfish BMCs listen.
const DefaultRedfishPort = 443

// Redfish reports whether t's "ipmi interface" is redfish.
func (t Target) Redfish() bool { return strings.EqualFold(strings.TrimSpace(t.Interface), "redfish") }

// Address is the BMC's host:port, the port defaulted (443 for Redfish,
// else 623).
func (t Target) Address() string {
	port := t.Port
	if port == "" {
		port = strconv.Itoa(DefaultPort)
		if t.Redfish() {
			port = strconv.Itoa(DefaultRedfishPort)
		}
	}
	return net.JoinHostPort(t.Ipaddr, port)
}

// Options are what New makes a driver with.
type Options struct {
	// Datadir is warewulf.conf's paths.datadir: a template named without
	// a directory is datadir/warewulf/bmc/NAME, as in Warewulf.
	Datadir string
	// RedfishCA is warewulf.conf's ipmi.redfish ca: a PEM file of the
	// certificates Redfish BMCs are verified against; "" is the
	// system's roots.
	RedfishCA string
	// RedfishInsecure is ipmi.redfish insecure: no verification at all.
	RedfishInsecure bool
	// roots loads RedfishCA; Factory sets it to load the file once.
	roots func() (*x509.CertPool, error)
}

// Factory returns New with o for many targets: the Redfish CA file is
// read once, when the first Redfish node needs it.
func Factory(o Options) func(Target) (Driver, error) {
	if o.roots == nil {
		file := o.RedfishCA
		o.roots = sync.OnceValues(func() (*x509.CertPool, error) { return loadRoots(file) })
	}
	return func(t Target) (Driver, error) { return New(t, o) }
}

// builtinTemplate is Warewulf's default "ipmi template": the ipmitool
// command lines it renders are what the IPMI driver does in process.
const builtinTemplate = "ipmitool.tmpl"

// New returns t's driver: its "ipmi template" when one is set (other
// than Warewulf's default ipmitool.tmpl, which the in-process IPMI
// driver replaces), else Redfish or IPMI by t's "ipmi interface"
// ("redfish"; "lanplus", the default, or "lan").
func New(t Target, o Options) (Driver, error) {
	if strings.TrimSpace(t.Ipaddr) == "" {
		return nil, ErrNoAddress
	}
	if t.Template != "" && t.Template != builtinTemplate {
		return newTemplate(t, o)
	}
	if t.Redfish() {
		return newRedfish(t, o)
	}
	return newIPMI(t)
}
