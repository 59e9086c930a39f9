package inventory

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// EncodeNodes returns a mapping of node name to node, in the order given,
// in nodes.conf's shape: what "node export" and "node edit" write.
func EncodeNodes(names []string, nodes map[string]*Node) *yaml.Node {
	e := &encoder{t: newTables()}
	m := mapping()
	for _, name := range names {
		addPair(m, name, e.node(nodes[name]))
	}
	return m
}

// EncodeProfiles is EncodeNodes for profiles.
func EncodeProfiles(names []string, profiles map[string]*Profile) *yaml.Node {
	e := &encoder{t: newTables()}
	m := mapping()
	for _, name := range names {
		addPair(m, name, e.profile(profiles[name]))
	}
	return m
}

// ParseNodes reads a mapping of node name to node (the format of "node
// export", "node edit" and "node import"). It returns the names in file
// order, and warnings about keys the format does not have (which the
// caller may refuse: see Warning).
func ParseNodes(data []byte, file string) (map[string]*Node, []string, []Warning, error) {
	var names []string
	nodes := map[string]*Node{}
	warnings, err := parseEntityMap(data, file, "node", func(d *decoder, name string, v *yaml.Node) {
		n := &Node{}
		d.node(v, n, "node "+quote(name))
		nodes[name] = n
		names = append(names, name)
	})
	return nodes, names, warnings, err
}

// ParseProfiles is ParseNodes for profiles.
func ParseProfiles(data []byte, file string) (map[string]*Profile, []string, []Warning, error) {
	var names []string
	profiles := map[string]*Profile{}
	warnings, err := parseEntityMap(data, file, "profile", func(d *decoder, name string, v *yaml.Node) {
		p := &Profile{}
		d.profile(v, p, "profile "+quote(name))
		profiles[name] = p
		names = append(names, name)
	})
	return profiles, names, warnings, err
}

func parseEntityMap(data []byte, file, what string, each func(d *decoder, name string, v *yaml.Node)) ([]Warning, error) {
	doc, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	d := &decoder{file: file, t: newTables()}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	d.entities(doc.Content[0], what, func(name string, v *yaml.Node) { each(d, name, v) })
	return d.warnings(), d.err()
}
