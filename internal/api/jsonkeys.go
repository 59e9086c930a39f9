package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"
)

// Warewulf's JSON names a network device's onboot "onbot" (the JSON tag
// of its NetDev.OnBoot, while its YAML says onboot), so its API reads
// and writes "onbot". These are the two names.
const (
	onbootYAML = "onboot"
	onbootJSON = "onbot"
)

// netDevs returns the network devices of one entity decoded from JSON.
func netDevs(entity any) []map[string]any {
	m, _ := entity.(map[string]any)
	devs, _ := m["network devices"].(map[string]any)
	var out []map[string]any
	for _, d := range devs {
		if dev, ok := d.(map[string]any); ok {
			out = append(out, dev)
		}
	}
	return out
}

// jsonOnbot gives an entity's network devices Warewulf's JSON name for
// onboot.
func jsonOnbot(entity any) {
	for _, dev := range netDevs(entity) {
		if v, ok := dev[onbootYAML]; ok {
			delete(dev, onbootYAML)
			dev[onbootJSON] = v
		}
	}
}

// entityJSON is toJSON for one node or profile, with Warewulf's JSON
// names.
func entityJSON(n *yaml.Node) (any, error) {
	v, err := toJSON(n)
	if err != nil {
		return nil, err
	}
	jsonOnbot(v)
	return v, nil
}

// entitiesJSON is toJSON for a mapping of names to entities.
func entitiesJSON(n *yaml.Node) (any, error) {
	v, err := toJSON(n)
	if err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		for _, e := range m {
			jsonOnbot(e)
		}
	}
	return v, nil
}

// yamlOnboot reads an entity a client sent: Warewulf's "onbot" is
// onboot (which is taken too). A device that gives both is refused. An
// entity without "onbot" is returned as it was sent.
func yamlOnboot(raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, errorf(http.StatusBadRequest, "request body: %v", err)
	}
	renamed := false
	for _, dev := range netDevs(v) {
		val, ok := dev[onbootJSON]
		if !ok {
			continue
		}
		if _, both := dev[onbootYAML]; both {
			return nil, errorf(http.StatusBadRequest, "request body: a network device gives both %q and %q (the same field)",
				onbootJSON, onbootYAML)
		}
		delete(dev, onbootJSON)
		dev[onbootYAML] = val
		renamed = true
	}
	if !renamed {
		return raw, nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("request body: %w", err)
	}
	return out, nil
}
