package bmc

import (
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"
)

func TestParseSensorLines(t *testing.T) {
	cases := []struct {
		name, in string
		want     []Sensor
	}{
		{"sdr list", "CPU Temp         | 45 degrees C      | ok\nFan 1            | no reading        | ns\n",
			[]Sensor{{Name: "CPU Temp", Reading: "45", Unit: "degrees C", Status: "ok"}, {Name: "Fan 1", Reading: "na", Status: "ns"}}},
		{"sensor list", "CPU Temp | 45.000 | degrees C | ok | na | 5.000 | 10.000 | 80.000 | 90.000 | 95.000\n",
			[]Sensor{{Name: "CPU Temp", Reading: "45.000", Unit: "degrees C", Status: "ok", Thresholds: map[string]string{
				"lnr": "na", "lcr": "5.000", "lnc": "10.000", "unc": "80.000", "ucr": "90.000", "unr": "95.000"}}}},
		{"other text", "coretemp-isa-0000\x1b[31m\n\n", []Sensor{{Name: "coretemp-isa-0000[31m", Reading: "na"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, ParseSensorLines(c.in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePowerStatus(t *testing.T) {
	cases := map[string]PowerState{"Chassis Power is on": PowerOn, "Chassis Power is off\n": PowerOff, "ON": PowerOn,
		"OFF": PowerOff, "power: offline": "", "": ""}
	for in, want := range cases {
		got, ok := ParsePowerStatus(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParsePowerStatus(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
}

func TestIsRMCP(t *testing.T) {
	cases := map[string]bool{"\x06\x00\xff\x07rest": true, "\x06\x00\xff\x06": true, "\x06\x00\xff\x87": true,
		"HTTP/1.0 400": false, "\x06\x00\xff": false, "\x06\x00\xff\x08": false}
	for in, want := range cases {
		if got := isRMCP([]byte(in)); got != want {
			t.Errorf("isRMCP(%q) = %v, want %v", in, got, want)
		}
	}
}

// Whatever a BMC or a template prints, the parsers neither panic nor
// let a control character through to the terminal.
func FuzzParseSensorLines(f *testing.F) {
	f.Add("CPU Temp | 45 degrees C | ok\n")
	f.Add("a|b|c|d|e|f|g|h|i|j|k\n|\n||||\n")
	f.Add("\x1b[2J|\x00|\xff\xfe")
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range ParseSensorLines(in) {
			all := []string{s.Name, s.Type, s.Reading, s.Unit, s.Status}
			for _, v := range s.Thresholds {
				all = append(all, v)
			}
			for _, v := range all {
				if strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) }) {
					t.Fatalf("control character in %q (from %q)", v, in)
				}
			}
			if s.Reading == "" {
				t.Fatalf("empty reading from %q", in)
			}
		}
	})
}

func FuzzParsePowerStatus(f *testing.F) {
	f.Add("Chassis Power is on")
	f.Add("OFF")
	f.Fuzz(func(t *testing.T, in string) {
		st, ok := ParsePowerStatus(in)
		if ok != (st == PowerOn || st == PowerOff) {
			t.Fatalf("ParsePowerStatus(%q) = %q, %v", in, st, ok)
		}
		_ = isRMCP([]byte(in))
	})
}
