// Package redfishsim is a Redfish BMC for the tests: an HTTPS server that
// speaks enough of the DMTF schema (service root, sessions and Basic
// authentication, one ComputerSystem with its power, Reset action, boot
// override and indicator, a Chassis with Thermal and Power or Sensors) in
// front of a Machine. A Machine is in memory (Memory) or a QEMU VM driven
// through its QMP socket (QMP), as sushy-tools does. It is never part of
// the product.
package redfishsim

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// PowerState is a ComputerSystem's PowerState.
type PowerState string

// The power states a Machine reports.
const (
	On  PowerState = "On"
	Off PowerState = "Off"
)

// The ResetTypes a Machine knows, in the order the BMC offers them.
var resetTypes = []string{"On", "ForceOn", "ForceOff", "GracefulShutdown", "ForceRestart", "PowerCycle"}

// Boot is a ComputerSystem's boot source override: Target is
// BootSourceOverrideTarget (Pxe, Hdd, BiosSetup, ...), Enabled is
// BootSourceOverrideEnabled (Disabled, Once, Continuous).
type Boot struct {
	Target  string
	Enabled string
}

// Sensor is one reading: Kind is Temperature (Celsius), Fan (RPM) or
// Voltage (Volts); Reading nil is no reading (the sensor is absent).
// Thresholds are by the Sensor schema's names (LowerFatal,
// LowerCritical, LowerCaution, UpperCaution, UpperCritical, UpperFatal).
type Sensor struct {
	Name       string
	Kind       string
	Reading    *float64
	Health     string
	Thresholds map[string]float64
}

// Machine is what the BMC controls.
type Machine interface {
	PowerState(ctx context.Context) (PowerState, error)
	// Reset does a ResetType (On, ForceOff, ...).
	Reset(ctx context.Context, resetType string) error
	SetBoot(b Boot)
	Boot() Boot
	SetIdentify(on bool)
	Identify() bool
	Sensors() []Sensor
}

// panel is the state of a machine that is only recorded: its boot
// override, identify light and sensors, and the boots it made.
type panel struct {
	mu       sync.Mutex
	boot     Boot
	identify bool
	sensors  []Sensor
	boots    []Boot
}

func newPanel() panel {
	f := func(v float64) *float64 { return &v }
	return panel{boot: Boot{Target: "None", Enabled: "Disabled"}, sensors: []Sensor{
		{Name: "CPU Temp", Kind: "Temperature", Reading: f(45), Health: "OK",
			Thresholds: map[string]float64{"LowerCritical": 5, "UpperCaution": 80, "UpperCritical": 90, "UpperFatal": 95}},
		{Name: "Fan 1", Kind: "Fan", Reading: f(3600), Health: "OK", Thresholds: map[string]float64{"LowerCritical": 500}},
		{Name: "PSU2 Temp", Kind: "Temperature"},
		{Name: "12V", Kind: "Voltage", Reading: f(12.1), Health: "OK",
			Thresholds: map[string]float64{"LowerCritical": 10.8, "UpperCritical": 13.2}},
	}}
}

func (p *panel) SetBoot(b Boot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.boot = b
}

func (p *panel) Boot() Boot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.boot
}

func (p *panel) SetIdentify(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.identify = on
}

func (p *panel) Identify() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.identify
}

func (p *panel) Sensors() []Sensor {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sensors)
}

// SetSensors replaces the sensors.
func (p *panel) SetSensors(s []Sensor) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sensors = slices.Clone(s)
}

// Boots are the boot overrides in effect at each boot the machine made
// (Target None when there was none).
func (p *panel) Boots() []Boot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.boots)
}

// booted records a boot: a Once override is used up by it.
func (p *panel) booted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.boot
	if b.Enabled == "Disabled" {
		b = Boot{Target: "None", Enabled: "Disabled"}
	}
	p.boots = append(p.boots, b)
	if p.boot.Enabled == "Once" {
		p.boot = Boot{Target: "None", Enabled: "Disabled"}
	}
}

// Memory is a machine in memory: power is a flag.
type Memory struct {
	panel
	mu     sync.Mutex
	on     bool
	resets []string
}

// NewMemory returns a machine that is off, with four sensors (CPU Temp,
// Fan 1, PSU2 Temp without a reading, 12V).
func NewMemory() *Memory { return &Memory{panel: newPanel()} }

func (m *Memory) PowerState(context.Context) (PowerState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.on {
		return On, nil
	}
	return Off, nil
}

// Resets are the ResetTypes done, in order.
func (m *Memory) Resets() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.resets)
}

func (m *Memory) Reset(_ context.Context, t string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	was := m.on
	switch t {
	case "On", "ForceOn":
		m.on = true
	case "ForceOff", "GracefulShutdown":
		m.on = false
	case "ForceRestart":
	case "PowerCycle":
		m.on, was = true, false
	default:
		return fmt.Errorf("reset type %q is not supported", t)
	}
	m.resets = append(m.resets, t)
	if m.on && (!was || t == "ForceRestart") {
		m.panel.booted()
	}
	return nil
}
