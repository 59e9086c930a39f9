package bmc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The sensors are read from the Redfish JSON here rather than through
// gofish's types, whose numbers cannot tell a reading or threshold the
// BMC does not have (null, or absent) from a zero.

// maxChassis and maxSensorMembers bound what one sensors command reads.
const (
	maxChassis       = 8
	maxSensorMembers = 512
)

func (d *redfishDriver) Sensors(ctx context.Context, full bool) ([]Sensor, error) {
	var out []Sensor
	err := d.session(ctx, func(c *rfConn) error {
		links := c.extra.Links.Chassis
		if len(links) == 0 {
			var coll collection
			if err := d.getJSON(ctx, c, "/redfish/v1/Chassis", &coll); err != nil {
				return err
			}
			links = coll.Members
		}
		if len(links) > maxChassis {
			links = links[:maxChassis]
		}
		for _, l := range links {
			ss, err := d.chassisSensors(ctx, c, l.ID, full)
			if err != nil {
				return err
			}
			out = append(out, ss...)
		}
		return nil
	})
	if out == nil && err == nil {
		out = []Sensor{}
	}
	return out, err
}

type collection struct {
	Members []odataLink
}

// chassisLinks is what sensors need of a Chassis: the deprecated Thermal and
// Power resources, or the Sensors collection that replaces them.
type chassisLinks struct {
	Thermal, Power, Sensors *odataLink
}

func (d *redfishDriver) chassisSensors(ctx context.Context, c *rfConn, uri string, full bool) ([]Sensor, error) {
	var ch chassisLinks
	if err := d.getJSON(ctx, c, uri, &ch); err != nil {
		return nil, err
	}
	var out []Sensor
	switch {
	case ch.Thermal != nil || ch.Power != nil:
		for _, l := range []*odataLink{ch.Thermal, ch.Power} {
			if l == nil || l.ID == "" {
				continue
			}
			body, err := d.get(ctx, c, l.ID)
			if err != nil {
				return nil, err
			}
			ss, err := parseEnvironment(body, full)
			if err != nil {
				return nil, fmt.Errorf("GET %s: %w: %v", l.ID, ErrBadAnswer, err)
			}
			out = append(out, ss...)
		}
	case ch.Sensors != nil && ch.Sensors.ID != "":
		var coll collection
		if err := d.getJSON(ctx, c, ch.Sensors.ID, &coll); err != nil {
			return nil, err
		}
		members := coll.Members
		if len(members) > maxSensorMembers {
			members = members[:maxSensorMembers]
		}
		for _, m := range members {
			body, err := d.get(ctx, c, m.ID)
			if err != nil {
				return nil, err
			}
			s, err := parseSensor(body, full)
			if err != nil {
				return nil, fmt.Errorf("GET %s: %w: %v", m.ID, ErrBadAnswer, err)
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// get reads one resource of the BMC.
func (d *redfishDriver) get(ctx context.Context, c *rfConn, uri string) ([]byte, error) {
	if !strings.HasPrefix(uri, "/") {
		return nil, fmt.Errorf("%w: link %q is not a path on the BMC", ErrBadAnswer, clip(uri))
	}
	resp, err := c.api.Get(uri)
	if err != nil {
		return nil, d.classify(ctx, "GET "+uri, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, d.classify(ctx, "GET "+uri, err)
	}
	return body, nil
}

func (d *redfishDriver) getJSON(ctx context.Context, c *rfConn, uri string, v any) error {
	body, err := d.get(ctx, c, uri)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return d.classify(ctx, "GET "+uri, err)
	}
	return nil
}

// status is a resource's Status.
type status struct {
	State  string
	Health string
}

// environment is a Thermal or a Power resource: the readings of both are
// in one list, temperatures, fans, then voltages.
type environment struct {
	Temperatures []struct {
		Name           string
		ReadingCelsius *float64
		Status         status
		thresholds
	}
	Fans []struct {
		Name string
		// FanName is the name in Thermal before v1.1.
		FanName      string
		Reading      *float64
		ReadingUnits string
		Status       status
		thresholds
	}
	Voltages []struct {
		Name         string
		ReadingVolts *float64
		Status       status
		thresholds
	}
}

// thresholds are Thermal's and Power's thresholds.
type thresholds struct {
	LowerThresholdFatal, LowerThresholdCritical, LowerThresholdNonCritical *float64
	UpperThresholdNonCritical, UpperThresholdCritical, UpperThresholdFatal *float64
}

// list is in ThresholdNames' order.
func (t thresholds) list() []*float64 {
	return []*float64{t.LowerThresholdFatal, t.LowerThresholdCritical, t.LowerThresholdNonCritical,
		t.UpperThresholdNonCritical, t.UpperThresholdCritical, t.UpperThresholdFatal}
}

// parseEnvironment is the sensors of a Thermal or Power resource.
func parseEnvironment(body []byte, full bool) ([]Sensor, error) {
	var env environment
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("not JSON: %s", clip(err.Error()))
	}
	var out []Sensor
	for _, t := range env.Temperatures {
		out = append(out, makeSensor(t.Name, "Temperature", t.ReadingCelsius, "degrees C", t.Status, t.thresholds.list(), full))
	}
	for _, f := range env.Fans {
		name := f.Name
		if name == "" {
			name = f.FanName
		}
		out = append(out, makeSensor(name, "Fan", f.Reading, unitName(f.ReadingUnits), f.Status, f.thresholds.list(), full))
	}
	for _, v := range env.Voltages {
		out = append(out, makeSensor(v.Name, "Voltage", v.ReadingVolts, "Volts", v.Status, v.thresholds.list(), full))
	}
	return out, nil
}

// sensorResource is a member of a chassis' Sensors collection.
type sensorResource struct {
	Name         string
	ReadingType  string
	Reading      *float64
	ReadingUnits string
	Status       status
	Thresholds   struct {
		LowerFatal, LowerCritical, LowerCaution, UpperCaution, UpperCritical, UpperFatal *struct {
			Reading *float64
		}
	}
}

// parseSensor is a Sensor resource.
func parseSensor(body []byte, full bool) (Sensor, error) {
	var s sensorResource
	if err := json.Unmarshal(body, &s); err != nil {
		return Sensor{}, fmt.Errorf("not JSON: %s", clip(err.Error()))
	}
	th := s.Thresholds
	var list []*float64
	for _, t := range []*struct{ Reading *float64 }{th.LowerFatal, th.LowerCritical, th.LowerCaution,
		th.UpperCaution, th.UpperCritical, th.UpperFatal} {
		if t == nil {
			list = append(list, nil)
		} else {
			list = append(list, t.Reading)
		}
	}
	kind := s.ReadingType
	if kind == "Rotational" {
		kind = "Fan"
	}
	return makeSensor(s.Name, kind, s.Reading, unitName(s.ReadingUnits), s.Status, list, full), nil
}

// unitName is a Redfish unit (UCUM, as Sensor's ReadingUnits, or Fan's
// RPM and Percent) as the IPMI driver names it.
func unitName(u string) string {
	switch u {
	case "Cel":
		return "degrees C"
	case "V":
		return "Volts"
	case "A":
		return "Amps"
	case "W":
		return "Watts"
	case "RPM", "{rev}/min":
		return "RPM"
	case "%", "Percent":
		return "percent"
	}
	return cleanText(u)
}

// absentStates are a Status.State in which a sensor has no reading.
var absentStates = map[string]bool{"Absent": true, "Disabled": true, "StandbyOffline": true, "UnavailableOffline": true}

// makeSensor is a reading as wwctl shows it. Its status is ipmitool's: a
// threshold crossed (lnr, lcr, lnc, unc, ucr, unr) when the reading and
// thresholds say so, else the BMC's Health (OK ok, Warning nc, Critical
// cr), "N/A" when there is no reading.
func makeSensor(name, kind string, reading *float64, unit string, st status, th []*float64, full bool) Sensor {
	s := Sensor{Name: cleanText(name), Type: cleanText(kind), Reading: "na", Status: "N/A"}
	num := func(v *float64) string {
		if v == nil {
			return "na"
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	if reading != nil && !absentStates[st.State] {
		s.Reading, s.Unit = num(reading), unit
		s.Status = health(st.Health)
		names := ThresholdNames()
		// Most severe first: unr, ucr, unc upward; lnr, lcr, lnc downward.
		for _, i := range []int{5, 4, 3} {
			if th[i] != nil && *reading >= *th[i] {
				s.Status = names[i]
				break
			}
		}
		for _, i := range []int{0, 1, 2} {
			if th[i] != nil && *reading <= *th[i] {
				s.Status = names[i]
				break
			}
		}
	}
	if full {
		s.Thresholds = map[string]string{}
		for i, n := range ThresholdNames() {
			s.Thresholds[n] = num(th[i])
		}
	}
	return s
}

func health(h string) string {
	switch h {
	case "OK", "":
		return "ok"
	case "Warning":
		return "nc"
	case "Critical":
		return "cr"
	}
	return cleanText(h)
}
