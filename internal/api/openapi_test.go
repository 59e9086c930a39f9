package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOpenAPI checks that the description names exactly the API's
// operations, each with its path parameters, and that each is served.
func TestOpenAPI(t *testing.T) {
	f := newFixture(t, enabled)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	res := f.do("GET", "/api/openapi.json", "")
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			got = append(got, strings.ToUpper(method)+" "+path)
			for _, seg := range strings.Split(path, "/") {
				if !strings.HasPrefix(seg, "{") {
					continue
				}
				found := false
				for _, p := range op.Parameters {
					found = found || p.In == "path" && "{"+p.Name+"}" == seg
				}
				if !found {
					t.Errorf("%s %s: path parameter %s not described", method, path, seg)
				}
			}
			for _, code := range []string{"200", "401", "403"} {
				if op.Responses[code] == nil {
					t.Errorf("%s %s: no %s response", method, path, code)
				}
			}
		}
	}
	want := wantRoutes()
	sort.Strings(want)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("operations in openapi.json (-want +got):\n%s", diff)
	}
	// Every referenced schema exists.
	for _, m := range bytes.Split(res.body, []byte(`"#/components/schemas/`))[1:] {
		name := string(m[:bytes.IndexByte(m, '"')])
		if doc.Components.Schemas[name] == nil {
			t.Errorf("schema %s is referenced but not defined", name)
		}
	}
	// Every described operation is routed (not the catch-all 404).
	for _, op := range wantRoutes() {
		method, path, _ := strings.Cut(op, " ")
		path = strings.NewReplacer("{id}", "n1", "{name}", "zz").Replace(path)
		res := f.do(method, path, "")
		if res.code == http.StatusNotFound && string(res.body) == "404 page not found\n" {
			t.Errorf("%s is described but not routed", op)
		}
	}
}
