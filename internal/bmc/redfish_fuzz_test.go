package bmc

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
)

// A minimal Redfish tree: the fuzzed answer replaces one of its resources.
var fuzzTree = []struct{ path, body string }{
	{"/redfish/v1/", `{"@odata.id":"/redfish/v1/","RedfishVersion":"1.8.0","Systems":{"@odata.id":"/redfish/v1/Systems"}}`},
	{"/redfish/v1/Systems", `{"Members":[{"@odata.id":"/redfish/v1/Systems/1"}]}`},
	{"/redfish/v1/Systems/1", `{"@odata.id":"/redfish/v1/Systems/1","Id":"1","PowerState":"On",` +
		`"Links":{"Chassis":[{"@odata.id":"/redfish/v1/Chassis/1"}]}}`},
	{"/redfish/v1/Chassis/1", `{"@odata.id":"/redfish/v1/Chassis/1","Thermal":{"@odata.id":"/redfish/v1/Chassis/1/Thermal"},` +
		`"Power":{"@odata.id":"/redfish/v1/Chassis/1/Power"}}`},
	{"/redfish/v1/Chassis/1/Thermal", `{"Temperatures":[{"Name":"CPU","ReadingCelsius":40,"UpperThresholdCritical":90,"Status":{"Health":"OK"}}],` +
		`"Fans":[{"FanName":"F1","Reading":null,"ReadingUnits":"RPM"}]}`},
	{"/redfish/v1/Chassis/1/Power", `{"Voltages":[{"Name":"12V","ReadingVolts":12.2}]}`},
}

// FuzzRedfishAnswer gives the driver arbitrary answers for one resource
// of a Redfish BMC: it never panics, and it returns an error or a valid
// result (on or off; sensors with printable text).
func FuzzRedfishAnswer(f *testing.F) {
	for i, r := range fuzzTree {
		f.Add(uint8(i), []byte(r.body))
	}
	f.Add(uint8(0), []byte("<html>"))
	f.Add(uint8(2), []byte(`{"PowerState":"Sleeping"}`))
	f.Add(uint8(4), []byte(`{"Temperatures":[{"Name":"a\u001b[31m","ReadingCelsius":1e308,"LowerThresholdFatal":-1e308}]}`))
	f.Add(uint8(3), []byte(`{"Sensors":{"@odata.id":"/redfish/v1/Chassis/1/Sensors"}}`))
	f.Add(uint8(1), []byte(`{"Members":[{"@odata.id":"http://elsewhere/x"}]}`))
	var mu sync.Mutex
	var which uint8
	var body []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for i, e := range fuzzTree {
			if e.path == r.URL.Path {
				if uint8(i) == which {
					_, _ = w.Write(body)
				} else {
					_, _ = w.Write([]byte(e.body))
				}
				return
			}
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	d, err := newRedfish(Target{Node: "n1", Ipaddr: "127.0.0.1", Port: port, UserName: "u", Password: "p", Interface: "redfish"},
		Options{RedfishInsecure: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, w uint8, b []byte) {
		mu.Lock()
		which, body = w%uint8(len(fuzzTree)), b
		mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := d.PowerStatus(ctx)
		if err == nil && st != PowerOn && st != PowerOff {
			t.Errorf("power status %q with no error", st)
		}
		checkError(t, err)
		ss, err := d.Sensors(ctx, true)
		checkError(t, err)
		if err == nil {
			for _, s := range ss {
				checkSensor(t, s)
			}
		}
	})
}

// FuzzRedfishSensors gives the sensor parsers arbitrary JSON.
func FuzzRedfishSensors(f *testing.F) {
	for _, r := range fuzzTree[4:] {
		f.Add([]byte(r.body))
	}
	f.Add([]byte(`{"Name":"Inlet","ReadingType":"Temperature","Reading":21.5,"ReadingUnits":"Cel",` +
		`"Thresholds":{"UpperCritical":{"Reading":40},"LowerFatal":{}},"Status":{"State":"Enabled","Health":"Warning"}}`))
	f.Add([]byte(`{"Reading":"12"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, full := range []bool{false, true} {
			ss, err := parseEnvironment(b, full)
			if err == nil {
				for _, s := range ss {
					checkSensor(t, s)
				}
			}
			s, err := parseSensor(b, full)
			if err == nil {
				checkSensor(t, s)
			}
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if !printable(err.Error()) {
		t.Errorf("error %q has control characters", err)
	}
	if strings.Contains(err.Error(), ":p@") {
		t.Errorf("error %q tells the password", err)
	}
	known := false
	for _, k := range []error{ErrTimeout, ErrAuth, ErrBadAnswer, ErrRefused, ErrUnsupported, ErrConnect, ErrCertificate} {
		known = known || errors.Is(err, k)
	}
	if !known && !strings.Contains(err.Error(), "system") {
		t.Errorf("error %q is of no known kind", err)
	}
}

func checkSensor(t *testing.T, s Sensor) {
	t.Helper()
	for _, v := range []string{s.Name, s.Type, s.Reading, s.Unit, s.Status} {
		if !printable(v) {
			t.Errorf("sensor %+v has control characters", s)
		}
	}
	if s.Reading == "" || s.Status == "" {
		t.Errorf("sensor %+v has no reading or status", s)
	}
	for k, v := range s.Thresholds {
		if v == "" {
			t.Errorf("sensor %+v: threshold %s is empty", s, k)
		}
	}
}

func printable(s string) bool {
	return !strings.ContainsFunc(s, unicode.IsControl)
}
