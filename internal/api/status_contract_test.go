package api

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/contract"
)

// The OpenAPI schema of /api/status names the keys the contract's
// encoder writes, no more and no fewer.
func TestStatusSchemaIsTheContract(t *testing.T) {
	data, err := json.Marshal(contract.NodeStatus{Node: "n1", LastSeen: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var encoded map[string]any
	if err := json.Unmarshal(data, &encoded); err != nil {
		t.Fatal(err)
	}
	status := schemas()["Status"].(map[string]any)["properties"].(map[string]any)["nodes"].(map[string]any)
	props := status["additionalProperties"].(map[string]any)["properties"].(map[string]any)
	if diff := cmp.Diff(slices.Sorted(maps.Keys(encoded)), slices.Sorted(maps.Keys(props))); diff != "" {
		t.Errorf("schema keys (-encoded +schema):\n%s", diff)
	}
}
