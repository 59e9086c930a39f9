package inventory

import "gopkg.in/yaml.v3"

// SecretMask stands for a secret (a BMC password) wherever values are
// shown: lists, change summaries, the API's merged views. It says that a
// value is set, never how long it is. nodes.conf, "node export" and the
// API's raw view keep the value itself.
const SecretMask = "********"

func secret[T any](f Field[T]) Field[T] {
	f.Secret = true
	return f
}

// Secret reports whether the field at path (a Value.Field, such as
// Ipmi.Password) holds a secret.
func Secret(path string) bool {
	for _, f := range IPMIFields() {
		if f.Secret && path == "Ipmi."+f.Name {
			return true
		}
	}
	return false
}

// Masked is v's value for display: SecretMask for a secret that is set
// and not empty.
func (v Value) Masked() string {
	if v.Set && v.Value != "" && Secret(v.Field) {
		return SecretMask
	}
	return v.Value
}

// MaskSecrets replaces, in an encoded nodes.conf document (EncodeNodes,
// EncodeProfiles), the value of every secret that is set with
// SecretMask. Empty values stay empty: they say that none is set.
func MaskSecrets(doc *yaml.Node) {
	if doc == nil {
		return
	}
	if doc.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(doc.Content); i += 2 {
			k, v := doc.Content[i], doc.Content[i+1]
			if k.Value == "ipmi" && v.Kind == yaml.MappingNode {
				maskIPMI(v)
			}
		}
	}
	for _, c := range doc.Content {
		MaskSecrets(c)
	}
}

func maskIPMI(m *yaml.Node) {
	for _, f := range IPMIFields() {
		if !f.Secret {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if v := m.Content[i+1]; m.Content[i].Value == f.Key && v.Kind == yaml.ScalarNode && v.Value != "" {
				m.Content[i+1] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: SecretMask}
			}
		}
	}
}

// KeepMaskedSecrets gives p, about to replace old (nil for a new entity),
// old's own value of each secret that p has as SecretMask (what the
// merged views and listings show in its place), or none when old has no
// value of its own (it was inherited or never set). A client that writes
// back what it read then leaves the password as it was, rather than
// making it the mask.
func KeepMaskedSecrets(p, old *Profile) {
	if p == nil || p.Ipmi == nil {
		return
	}
	for _, f := range IPMIFields() {
		if !f.Secret || f.Str == nil {
			continue
		}
		v := f.Str(p.Ipmi)
		if *v == nil || **v != SecretMask {
			continue
		}
		*v = nil
		if old != nil && old.Ipmi != nil {
			if was := *f.Str(old.Ipmi); was != nil {
				keep := *was
				*v = &keep
			}
		}
	}
}
