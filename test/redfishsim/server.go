package redfishsim

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
)

// Options shape the BMC.
type Options struct {
	// User and Password are the account; "" is DefaultUser and
	// DefaultPassword.
	User, Password string
	// ResetTypes are the ResetType@Redfish.AllowableValues; nil is every
	// one the machine knows (On, ForceOn, ForceOff, GracefulShutdown,
	// ForceRestart, PowerCycle).
	ResetTypes []string
	// Systems are the Ids of the systems listed; nil is one, "1". All of
	// them are the one machine.
	Systems []string
	// SensorsCollection serves the chassis' sensors as the Sensors
	// collection instead of the Thermal and Power resources.
	SensorsCollection bool
	// IndicatorLEDOnly serves IndicatorLED without LocationIndicatorActive,
	// as BMCs before Redfish 2020.3 do.
	IndicatorLEDOnly bool
}

// The account a BMC has unless told.
const (
	DefaultUser     = "admin"
	DefaultPassword = "redfish-secret"
)

// Server is the BMC's Redfish service.
type Server struct {
	m  Machine
	o  Options
	mu sync.Mutex
	// sessions maps X-Auth-Token to session Id.
	sessions map[string]string
}

// NewServer returns the service in front of m.
func NewServer(m Machine, o Options) *Server {
	if o.User == "" && o.Password == "" {
		o.User, o.Password = DefaultUser, DefaultPassword
	}
	if o.ResetTypes == nil {
		o.ResetTypes = resetTypes
	}
	if len(o.Systems) == 0 {
		o.Systems = []string{"1"}
	}
	return &Server{m: m, o: o, sessions: map[string]string{}}
}

// Handler serves the Redfish tree.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /redfish", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"v1": "/redfish/v1/"})
	})
	mux.HandleFunc("GET /redfish/v1/{$}", s.root)
	mux.HandleFunc("GET /redfish/v1", s.root)
	mux.HandleFunc("POST /redfish/v1/SessionService/Sessions", s.login)
	auth := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.authenticated(h)) }
	auth("GET /redfish/v1/SessionService", s.sessionService)
	auth("GET /redfish/v1/SessionService/Sessions", s.sessionList)
	auth("GET /redfish/v1/SessionService/Sessions/{id}", s.session)
	auth("DELETE /redfish/v1/SessionService/Sessions/{id}", s.logout)
	auth("GET /redfish/v1/Systems", s.systems)
	auth("GET /redfish/v1/Systems/{id}", s.system)
	auth("PATCH /redfish/v1/Systems/{id}", s.patchSystem)
	auth("POST /redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset", s.reset)
	auth("GET /redfish/v1/Chassis", s.chassisList)
	auth("GET /redfish/v1/Chassis/1", s.chassis)
	auth("GET /redfish/v1/Chassis/1/Thermal", s.thermal)
	auth("GET /redfish/v1/Chassis/1/Power", s.power)
	auth("GET /redfish/v1/Chassis/1/Sensors", s.sensorList)
	auth("GET /redfish/v1/Chassis/1/Sensors/{id}", s.sensor)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		redfishError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "The resource at "+r.URL.Path+" does not exist.")
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// redfishError answers with a Redfish error body.
func redfishError(w http.ResponseWriter, code int, id, msg string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{
		"code": id, "message": msg,
		"@Message.ExtendedInfo": []map[string]any{{"MessageId": id, "Message": msg, "Severity": "Critical"}},
	}})
}

func link(path string) map[string]string { return map[string]string{"@odata.id": path} }

func members(paths ...string) map[string]any {
	ms := make([]map[string]string, len(paths))
	for i, p := range paths {
		ms[i] = link(p)
	}
	return map[string]any{"Members": ms, "Members@odata.count": len(ms)}
}

// authenticated lets through a request with the account's Basic
// credentials or a session's X-Auth-Token.
func (s *Server) authenticated(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.Header.Get("X-Auth-Token"); tok != "" {
			s.mu.Lock()
			_, ok := s.sessions[tok]
			s.mu.Unlock()
			if ok {
				h(w, r)
				return
			}
		} else if u, p, ok := r.BasicAuth(); ok && s.account(u, p) {
			h(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="Redfish"`)
		redfishError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "There is no valid session established with the implementation.")
	})
}

func (s *Server) account(u, p string) bool {
	return subtle.ConstantTimeCompare([]byte(u), []byte(s.o.User))&subtle.ConstantTimeCompare([]byte(p), []byte(s.o.Password)) == 1
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot", "@odata.id": "/redfish/v1/",
		"Id": "RootService", "Name": "Root Service", "RedfishVersion": "1.8.0",
		"UUID":           "92384634-2938-2342-8820-489239905423",
		"Systems":        link("/redfish/v1/Systems"),
		"Chassis":        link("/redfish/v1/Chassis"),
		"SessionService": link("/redfish/v1/SessionService"),
		"Links":          map[string]any{"Sessions": link("/redfish/v1/SessionService/Sessions")},
	})
}

func (s *Server) sessionService(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.id": "/redfish/v1/SessionService", "Id": "SessionService", "Name": "Session Service",
		"ServiceEnabled": true, "SessionTimeout": 300, "Sessions": link("/redfish/v1/SessionService/Sessions"),
	})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct{ UserName, Password string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		redfishError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if !s.account(req.UserName, req.Password) {
		redfishError(w, http.StatusUnauthorized, "Base.1.8.NoValidSession", "Invalid user name or password.")
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	s.mu.Lock()
	id := fmt.Sprint(len(s.sessions) + 1)
	s.sessions[tok] = id
	s.mu.Unlock()
	w.Header().Set("X-Auth-Token", tok)
	w.Header().Set("Location", "/redfish/v1/SessionService/Sessions/"+id)
	writeJSON(w, http.StatusCreated, map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions/" + id, "Id": id, "UserName": req.UserName})
}

// Sessions is the number of open sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

func (s *Server) sessionList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var paths []string
	for _, id := range s.sessions {
		paths = append(paths, "/redfish/v1/SessionService/Sessions/"+id)
	}
	s.mu.Unlock()
	slices.Sort(paths)
	writeJSON(w, http.StatusOK, members(paths...))
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	writeJSON(w, http.StatusOK, map[string]any{"@odata.id": "/redfish/v1/SessionService/Sessions/" + id, "Id": id, "UserName": s.o.User})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, id := range s.sessions {
		if id == r.PathValue("id") {
			delete(s.sessions, tok)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	redfishError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "No such session.")
}

func (s *Server) systems(w http.ResponseWriter, r *http.Request) {
	paths := make([]string, len(s.o.Systems))
	for i, id := range s.o.Systems {
		paths[i] = "/redfish/v1/Systems/" + id
	}
	writeJSON(w, http.StatusOK, members(paths...))
}

// systemID is the request's system, or "" after answering 404.
func (s *Server) systemID(w http.ResponseWriter, r *http.Request) string {
	id := r.PathValue("id")
	if !slices.Contains(s.o.Systems, id) {
		redfishError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "No system "+id+".")
		return ""
	}
	return id
}

func (s *Server) system(w http.ResponseWriter, r *http.Request) {
	id := s.systemID(w, r)
	if id == "" {
		return
	}
	st, err := s.m.PowerState(r.Context())
	if err != nil {
		redfishError(w, http.StatusInternalServerError, "Base.1.8.InternalError", err.Error())
		return
	}
	b := s.m.Boot()
	led := "Off"
	if s.m.Identify() {
		led = "Lit"
	}
	path := "/redfish/v1/Systems/" + id
	sys := map[string]any{
		"@odata.type": "#ComputerSystem.v1_13_0.ComputerSystem", "@odata.id": path,
		"Id": id, "Name": "System " + id, "SystemType": "Physical",
		"PowerState": st, "IndicatorLED": led,
		"Status": map[string]string{"State": "Enabled", "Health": "OK"},
		"Boot": map[string]any{
			"BootSourceOverrideTarget": b.Target, "BootSourceOverrideEnabled": b.Enabled,
			"BootSourceOverrideTarget@Redfish.AllowableValues": bootTargets,
		},
		"Actions": map[string]any{"#ComputerSystem.Reset": map[string]any{
			"target":                            path + "/Actions/ComputerSystem.Reset",
			"ResetType@Redfish.AllowableValues": s.o.ResetTypes,
		}},
		"Links": map[string]any{"Chassis": []map[string]string{link("/redfish/v1/Chassis/1")}},
	}
	if !s.o.IndicatorLEDOnly {
		sys["LocationIndicatorActive"] = s.m.Identify()
	}
	writeJSON(w, http.StatusOK, sys)
}

var (
	bootTargets = []string{"None", "Pxe", "Hdd", "Cd", "BiosSetup", "UefiShell"}
	bootEnabled = []string{"Disabled", "Once", "Continuous"}
)

func (s *Server) patchSystem(w http.ResponseWriter, r *http.Request) {
	if s.systemID(w, r) == "" {
		return
	}
	var req map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		redfishError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	bad := func(prop string) {
		redfishError(w, http.StatusBadRequest, "Base.1.8.PropertyValueNotInList", "The value for the property "+prop+" is not in the list of acceptable values.")
	}
	boot, identify := s.m.Boot(), s.m.Identify()
	for k, v := range req {
		switch k {
		case "Boot":
			var b map[string]string
			if err := json.Unmarshal(v, &b); err != nil {
				bad("Boot")
				return
			}
			for bk, bv := range b {
				switch bk {
				case "BootSourceOverrideTarget":
					if !slices.Contains(bootTargets, bv) {
						bad(bk)
						return
					}
					boot.Target = bv
				case "BootSourceOverrideEnabled":
					if !slices.Contains(bootEnabled, bv) {
						bad(bk)
						return
					}
					boot.Enabled = bv
				case "BootSourceOverrideMode":
				default:
					redfishError(w, http.StatusBadRequest, "Base.1.8.PropertyNotWritable", "The property Boot/"+bk+" is not writable.")
					return
				}
			}
		case "IndicatorLED":
			var led string
			if json.Unmarshal(v, &led) != nil || led != "Lit" && led != "Off" && led != "Blinking" {
				bad(k)
				return
			}
			identify = led != "Off"
		case "LocationIndicatorActive":
			if s.o.IndicatorLEDOnly || json.Unmarshal(v, &identify) != nil {
				bad(k)
				return
			}
		default:
			redfishError(w, http.StatusBadRequest, "Base.1.8.PropertyUnknown", "The property "+k+" is not in the list of valid properties for the resource.")
			return
		}
	}
	s.m.SetBoot(boot)
	s.m.SetIdentify(identify)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	if s.systemID(w, r) == "" {
		return
	}
	var req struct{ ResetType string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		redfishError(w, http.StatusBadRequest, "Base.1.8.MalformedJSON", "The request body submitted was malformed JSON.")
		return
	}
	if !slices.Contains(s.o.ResetTypes, req.ResetType) {
		redfishError(w, http.StatusBadRequest, "Base.1.8.ActionParameterNotSupported",
			"The parameter ResetType for the action ComputerSystem.Reset is not supported on the target resource.")
		return
	}
	if err := s.m.Reset(r.Context(), req.ResetType); err != nil {
		redfishError(w, http.StatusInternalServerError, "Base.1.8.InternalError", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) chassisList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, members("/redfish/v1/Chassis/1"))
}

func (s *Server) chassis(w http.ResponseWriter, r *http.Request) {
	c := map[string]any{
		"@odata.type": "#Chassis.v1_14_0.Chassis", "@odata.id": "/redfish/v1/Chassis/1",
		"Id": "1", "Name": "Chassis", "ChassisType": "RackMount",
	}
	if s.o.SensorsCollection {
		c["Sensors"] = link("/redfish/v1/Chassis/1/Sensors")
	} else {
		c["Thermal"] = link("/redfish/v1/Chassis/1/Thermal")
		c["Power"] = link("/redfish/v1/Chassis/1/Power")
	}
	writeJSON(w, http.StatusOK, c)
}

// thermalNames are the Thermal and Power names of the Sensor schema's
// thresholds.
var thermalNames = map[string]string{
	"LowerFatal": "LowerThresholdFatal", "LowerCritical": "LowerThresholdCritical", "LowerCaution": "LowerThresholdNonCritical",
	"UpperCaution": "UpperThresholdNonCritical", "UpperCritical": "UpperThresholdCritical", "UpperFatal": "UpperThresholdFatal",
}

func statusOf(sn Sensor) map[string]string {
	if sn.Reading == nil {
		return map[string]string{"State": "Absent"}
	}
	return map[string]string{"State": "Enabled", "Health": sn.Health}
}

// environment is a Thermal or Power member for sn.
func environment(path string, i int, sn Sensor, reading string) map[string]any {
	m := map[string]any{"@odata.id": fmt.Sprintf("%s#/%d", path, i), "MemberId": fmt.Sprint(i), "Name": sn.Name,
		"Status": statusOf(sn), reading: sn.Reading}
	for k, v := range sn.Thresholds {
		m[thermalNames[k]] = v
	}
	return m
}

func (s *Server) thermal(w http.ResponseWriter, r *http.Request) {
	temps, fans := []map[string]any{}, []map[string]any{}
	for _, sn := range s.m.Sensors() {
		switch sn.Kind {
		case "Temperature":
			temps = append(temps, environment("/redfish/v1/Chassis/1/Thermal#/Temperatures", len(temps), sn, "ReadingCelsius"))
		case "Fan":
			f := environment("/redfish/v1/Chassis/1/Thermal#/Fans", len(fans), sn, "Reading")
			f["ReadingUnits"] = "RPM"
			fans = append(fans, f)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.type": "#Thermal.v1_7_0.Thermal", "@odata.id": "/redfish/v1/Chassis/1/Thermal",
		"Id": "Thermal", "Name": "Thermal", "Temperatures": temps, "Fans": fans})
}

func (s *Server) power(w http.ResponseWriter, r *http.Request) {
	volts := []map[string]any{}
	for _, sn := range s.m.Sensors() {
		if sn.Kind == "Voltage" {
			volts = append(volts, environment("/redfish/v1/Chassis/1/Power#/Voltages", len(volts), sn, "ReadingVolts"))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"@odata.type": "#Power.v1_6_0.Power", "@odata.id": "/redfish/v1/Chassis/1/Power",
		"Id": "Power", "Name": "Power", "Voltages": volts})
}

func (s *Server) sensorList(w http.ResponseWriter, r *http.Request) {
	var paths []string
	for i := range s.m.Sensors() {
		paths = append(paths, fmt.Sprintf("/redfish/v1/Chassis/1/Sensors/%d", i))
	}
	writeJSON(w, http.StatusOK, members(paths...))
}

// sensorTypes are a Sensor's ReadingType and ReadingUnits by kind.
var sensorTypes = map[string][2]string{"Temperature": {"Temperature", "Cel"}, "Fan": {"Rotational", "RPM"}, "Voltage": {"Voltage", "V"}}

func (s *Server) sensor(w http.ResponseWriter, r *http.Request) {
	ss := s.m.Sensors()
	var i int
	if _, err := fmt.Sscan(r.PathValue("id"), &i); err != nil || i < 0 || i >= len(ss) {
		redfishError(w, http.StatusNotFound, "Base.1.8.ResourceMissingAtURI", "No such sensor.")
		return
	}
	sn := ss[i]
	th := map[string]any{}
	for k, v := range sn.Thresholds {
		th[k] = map[string]any{"Reading": v}
	}
	t := sensorTypes[sn.Kind]
	writeJSON(w, http.StatusOK, map[string]any{"@odata.type": "#Sensor.v1_2_0.Sensor",
		"@odata.id": fmt.Sprintf("/redfish/v1/Chassis/1/Sensors/%d", i), "Id": fmt.Sprint(i), "Name": sn.Name,
		"ReadingType": t[0], "ReadingUnits": t[1], "Reading": sn.Reading, "Status": statusOf(sn), "Thresholds": th})
}
