package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/site"
)

// bmcRoutes are a node's BMC operations, the same site operation as
// "wwctl power" and "wwctl node sensors".
func (s *Server) bmcRoutes() []route {
	codes := []int{400, 404, 502, 504}
	return []route{
		{method: "GET", path: "/api/nodes/{id}/power", summary: "A node's power status, from its BMC", resp: "BMCResult",
			codes: codes, handle: s.bmcHandler(func(*http.Request) (bmc.Request, error) { return bmc.Request{Op: bmc.OpStatus}, nil })},
		{method: "POST", path: "/api/nodes/{id}/power", summary: "Power a node on, off, cycle, reset or soft (ACPI shutdown)",
			body: "PowerRequest", resp: "BMCResult", codes: codes, handle: s.bmcHandler(func(r *http.Request) (bmc.Request, error) {
				var body struct {
					Action string `json:"action"`
				}
				err := decodeBody(r, &body)
				return bmc.Request{Op: bmc.OpPower, Action: bmc.PowerAction(body.Action)}, err
			})},
		{method: "PUT", path: "/api/nodes/{id}/bootdev", summary: "Set a node's boot device override (pxe, disk, bios)",
			body: "BootDevRequest", resp: "BMCResult", codes: codes, handle: s.bmcHandler(func(r *http.Request) (bmc.Request, error) {
				var body struct {
					Device     string `json:"device"`
					Persistent bool   `json:"persistent"`
				}
				err := decodeBody(r, &body)
				return bmc.Request{Op: bmc.OpBootDev, Device: bmc.BootDevice(body.Device), Persistent: body.Persistent}, err
			})},
		{method: "PUT", path: "/api/nodes/{id}/identify", summary: "Turn a node's identify light on or off",
			body: "IdentifyRequest", resp: "BMCResult", codes: codes, handle: s.bmcHandler(func(r *http.Request) (bmc.Request, error) {
				var body struct {
					On bool `json:"on"`
				}
				err := decodeBody(r, &body)
				return bmc.Request{Op: bmc.OpIdentify, On: body.On}, err
			})},
		{method: "GET", path: "/api/nodes/{id}/sensors", summary: "A node's sensors, from its BMC",
			query: []param{{name: "full", typ: "boolean", desc: "Thresholds too"}}, resp: "BMCResult", codes: codes,
			handle: s.bmcHandler(func(r *http.Request) (bmc.Request, error) {
				full, err := boolQuery(r, "full")
				return bmc.Request{Op: bmc.OpSensors, Full: full}, err
			})},
	}
}

// bmcResult is a node's BMC outcome; a failure is answered with 502
// (504 when the BMC did not answer in time) and this body.
type bmcResult struct {
	Node    string         `json:"node"`
	BMC     string         `json:"bmc"`
	Power   bmc.PowerState `json:"power,omitempty"`
	Sensors []bmc.Sensor   `json:"sensors,omitempty"`
	// Message is the failure, as every API error says it.
	Message string `json:"message,omitempty"`
}

func (s *Server) bmcHandler(parse func(*http.Request) (bmc.Request, error)) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		req, err := parse(r)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				return err
			}
			return errorf(http.StatusBadRequest, "%v", err)
		}
		if err := req.Check(); err != nil {
			return errorf(http.StatusBadRequest, "%v", err)
		}
		id := r.PathValue("id")
		res, err := s.site.RunBMC(r.Context(), []string{id}, req, site.BMCOptions{})
		if err != nil {
			if strings.HasPrefix(err.Error(), "no such node") {
				return errorf(http.StatusNotFound, "%v", err)
			}
			return errorf(http.StatusBadRequest, "%v", err)
		}
		x := res[0]
		out := bmcResult{Node: x.Node, BMC: x.BMC, Power: x.Power, Sensors: x.Sensors}
		code := http.StatusOK
		if x.Err != nil {
			out.Message = x.Err.Error()
			code = http.StatusBadGateway
			if errors.Is(x.Err, bmc.ErrTimeout) {
				code = http.StatusGatewayTimeout
			}
		}
		reply(w, code, out)
		return nil
	}
}
