package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/site"
)

// schemaOf is the OpenAPI schema of one entity of kind k.
func schemaOf(k site.Kind) string {
	if k == site.NodeKind {
		return "Node"
	}
	return "Profile"
}

// checkOverlays refuses overlay names that a change brought into name's
// own lists and that name no overlay (site.CheckNewOverlays) as a bad
// request.
func (s *Server) checkOverlays(k site.Kind, inv *inventory.Inventory, name string, before [2][]string) error {
	err := s.site.CheckNewOverlays(k, inv, name, before)
	var oe *site.OverlayFieldError
	if errors.As(err, &oe) {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	return err
}

// toJSON turns a nodes.conf tree into values for encoding/json: values
// stay the strings they are in the file, booleans stay booleans.
func toJSON(n *yaml.Node) (any, error) {
	if n == nil {
		return map[string]any{}, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("convert to JSON: %w", err)
	}
	if v == nil {
		v = map[string]any{}
	}
	return v, nil
}

// entry returns the value of key in a mapping, or nil.
func entry(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// merged applies the entities' profiles and encodes them.
func merged(k site.Kind, inv *inventory.Inventory, names []string, provenance bool) ([]*inventory.Merged, *yaml.Node, error) {
	ms, err := k.Merge(inv, names, provenance)
	if err != nil {
		return nil, nil, err
	}
	return ms, k.EncodeMerged(names, ms), nil
}

func (s *Server) notFound(k site.Kind, name string) error {
	return errorf(http.StatusNotFound, "%s %q does not exist", k, name)
}

// loadEntity reads the inventory and checks that the entity of the path
// exists.
func (s *Server) loadEntity(k site.Kind, r *http.Request) (*inventory.Inventory, string, error) {
	name := r.PathValue("id")
	inv, err := s.site.Nodes().Load()
	if err != nil {
		return nil, "", err
	}
	if !k.Has(inv, name) {
		return nil, "", s.notFound(k, name)
	}
	return inv, name, nil
}

func (s *Server) list(k site.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		inv, err := s.site.Nodes().Load()
		if err != nil {
			return err
		}
		doc, err := view(k, inv, k.Names(inv))
		if err != nil {
			return err
		}
		v, err := entitiesJSON(doc)
		if err != nil {
			return err
		}
		reply(w, http.StatusOK, v)
		return nil
	}
}

// view is what GET answers for entities, as Warewulf's: nodes with
// their profiles applied, profiles as they are in nodes.conf (Warewulf
// applies no profile to a profile); BMC passwords masked in both.
func view(k site.Kind, inv *inventory.Inventory, names []string) (*yaml.Node, error) {
	doc := k.Encode(inv, names)
	if k == site.NodeKind {
		var err error
		if _, doc, err = merged(k, inv, names, false); err != nil {
			return nil, err
		}
	}
	inventory.MaskSecrets(doc) // the raw view has them
	return doc, nil
}

// get answers the entity as view gives it, or with raw its own fields
// with their secrets.
func (s *Server) get(k site.Kind, raw bool) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		inv, name, err := s.loadEntity(k, r)
		if err != nil {
			return err
		}
		doc := k.Encode(inv, []string{name})
		if !raw {
			if doc, err = view(k, inv, []string{name}); err != nil {
				return err
			}
		}
		v, err := entityJSON(entry(doc, name))
		if err != nil {
			return err
		}
		reply(w, http.StatusOK, v)
		return nil
	}
}

// fieldRow is one field of a merged entity and where its value came
// from: "" the entity itself, a profile name, or SUPERSEDED. The keys
// are Warewulf's node.Field's, which has no JSON tags.
type fieldRow struct {
	Field  string
	Source string
	Value  string
}

func (s *Server) fields(k site.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		inv, name, err := s.loadEntity(k, r)
		if err != nil {
			return err
		}
		ms, _, err := merged(k, inv, []string{name}, true)
		if err != nil {
			return err
		}
		// Set fields only, as Warewulf lists them.
		rows := []fieldRow{}
		for _, v := range ms[0].Values(true) {
			if v.Set {
				rows = append(rows, fieldRow{Field: v.Field, Source: v.Source, Value: v.Masked()})
			}
		}
		reply(w, http.StatusOK, rows)
		return nil
	}
}

// readEntity reads a request body {"<noun>": {...}}.
func readEntity(k site.Kind, r *http.Request) (json.RawMessage, error) {
	var body map[string]json.RawMessage
	if err := decodeBody(r, &body); err != nil {
		return nil, err
	}
	for key := range body {
		if key != string(k) {
			return nil, errorf(http.StatusBadRequest, "request body: unknown key %q (expected {%q: {...}})", key, k)
		}
	}
	raw, ok := body[string(k)]
	if !ok || string(raw) == "null" {
		return nil, errorf(http.StatusBadRequest, "request body: expected {%q: {...}}", k)
	}
	return yamlOnboot(raw)
}

// parseEntity checks an entity given as JSON with the nodes.conf decoder,
// which names any unknown key or malformed value.
func parseEntity(k site.Kind, name string, raw []byte) (*site.Set, error) {
	doc, err := json.Marshal(map[string]json.RawMessage{name: raw})
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "request body: %v", err)
	}
	set, err := k.Parse(doc, "request body")
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	if err := refuseUnknown(set.Warnings); err != nil {
		return nil, err
	}
	return set, nil
}

// update runs change under the store's lock. It returns the entity's own
// fields after the change (before it, with before), which is what
// Warewulf's API answers a write with, and the warnings: problems
// nodes.conf already had and the daemon's reload warnings, which the
// answer carries in Warning headers.
func (s *Server) update(r *http.Request, k site.Kind, name string, before bool, change func(inv *inventory.Inventory) error) (any, []string, error) {
	var out *yaml.Node
	warnings, err := s.site.Nodes().Update(r.Context(), func(inv *inventory.Inventory) error {
		encode := func() {
			if k.Has(inv, name) {
				out = entry(k.Encode(inv, []string{name}), name)
			}
		}
		if before {
			encode()
		}
		if err := change(inv); err != nil {
			return err
		}
		if !before {
			encode()
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	inventory.MaskSecrets(out) // Warewulf answers the password in clear
	v, err := entityJSON(out)
	if err != nil {
		return nil, nil, err
	}
	var msgs []string
	for _, p := range warnings {
		msgs = append(msgs, "existing problem in nodes.conf: "+p.String())
	}
	return v, append(msgs, s.reload()...), nil
}

// replyWrite answers a write with the entity and its warnings.
func replyWrite(w http.ResponseWriter, v any, warnings []string) {
	warn(w, warnings)
	reply(w, http.StatusOK, v)
}

// put adds or replaces an entity; "If-None-Match: *" only adds. As in
// Warewulf, both answer 200, and an entity that exists with
// "If-None-Match: *" is an invalid argument (400).
func (s *Server) put(k site.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("id")
		if !naming.Node.Valid(name) {
			return errorf(http.StatusBadRequest, "%s name %q is not valid (letters, digits, '.', '_', '-')", k, name)
		}
		raw, err := readEntity(k, r)
		if err != nil {
			return err
		}
		set, err := parseEntity(k, name, raw)
		if err != nil {
			return err
		}
		createOnly := r.Header.Get("If-None-Match") == "*"
		v, warnings, err := s.update(r, k, name, false, func(inv *inventory.Inventory) error {
			if createOnly && k.Has(inv, name) {
				return errorf(http.StatusBadRequest, "%s '%s' already exists", k, name)
			}
			before := k.Overlays(inv, name)
			set.Put(inv)
			return s.checkOverlays(k, inv, name, before)
		})
		if err != nil {
			return err
		}
		replyWrite(w, v, warnings)
		return nil
	}
}

// patch merges the body into the entity's own fields (RFC 7386 JSON
// merge patch over the nodes.conf shape): mappings merge key by key, any
// other value replaces, null removes.
func (s *Server) patch(k site.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("id")
		raw, err := readEntity(k, r)
		if err != nil {
			return err
		}
		// The patch alone must be well formed, so errors name the keys
		// the client sent.
		if _, err := parseEntity(k, name, raw); err != nil {
			return err
		}
		var patchDoc yaml.Node
		if err := yaml.Unmarshal(raw, &patchDoc); err != nil || len(patchDoc.Content) == 0 || patchDoc.Content[0].Kind != yaml.MappingNode {
			return errorf(http.StatusBadRequest, "request body: %q must be an object", k)
		}
		v, warnings, err := s.update(r, k, name, false, func(inv *inventory.Inventory) error {
			if !k.Has(inv, name) {
				return s.notFound(k, name)
			}
			merged := mergePatch(entry(k.Encode(inv, []string{name}), name), patchDoc.Content[0])
			doc := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, merged}}
			data, err := yaml.Marshal(doc)
			if err != nil {
				return fmt.Errorf("apply patch: %w", err)
			}
			set, err := k.Parse(data, "patched "+string(k))
			if err != nil {
				return errorf(http.StatusBadRequest, "%v", err)
			}
			before := k.Overlays(inv, name)
			set.Put(inv)
			return s.checkOverlays(k, inv, name, before)
		})
		if err != nil {
			return err
		}
		replyWrite(w, v, warnings)
		return nil
	}
}

// mergePatch applies patch to dst as RFC 7386 does, without changing
// either.
func mergePatch(dst, patch *yaml.Node) *yaml.Node {
	if patch.Kind != yaml.MappingNode {
		return patch
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if dst != nil && dst.Kind == yaml.MappingNode {
		out.Content = append(out.Content, dst.Content...)
	}
	for i := 0; i+1 < len(patch.Content); i += 2 {
		k, v := patch.Content[i], patch.Content[i+1]
		at := -1
		for j := 0; j+1 < len(out.Content); j += 2 {
			if out.Content[j].Value == k.Value {
				at = j
				break
			}
		}
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			if at >= 0 {
				out.Content = append(out.Content[:at:at], out.Content[at+2:]...)
			}
		case at >= 0:
			out.Content[at+1] = mergePatch(out.Content[at+1], v)
		default:
			out.Content = append(out.Content, k, mergePatch(nil, v))
		}
	}
	return out
}

// remove deletes an entity and answers it as it was. One still in use
// is an invalid argument (400), as in Warewulf.
func (s *Server) remove(k site.Kind) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := r.PathValue("id")
		v, warnings, err := s.update(r, k, name, true, func(inv *inventory.Inventory) error {
			if !k.Has(inv, name) {
				return s.notFound(k, name)
			}
			// The rules wwctl's delete follows.
			return k.Delete(inv, []string{name})
		})
		var inUse *site.InUseError
		if errors.Is(err, site.ErrDefaultProfile) {
			return errorf(http.StatusBadRequest, "%v", err)
		}
		if errors.As(err, &inUse) {
			return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf("%s '%s' is in use, nothing changed", k, name),
				problems: []string{inUse.Error()}}
		}
		var ve *inventory.ValidationError
		if errors.As(err, &ve) {
			// Deleting a profile that is still listed somewhere.
			return &httpError{code: http.StatusBadRequest, msg: fmt.Sprintf("%s '%s' is in use, nothing changed", k, name),
				problems: problemStrings(ve)}
		}
		if err != nil {
			return err
		}
		replyWrite(w, v, warnings)
		return nil
	}
}

func problemStrings(ve *inventory.ValidationError) []string {
	out := make([]string, 0, len(ve.Problems))
	for _, p := range ve.Problems {
		out = append(out, p.String())
	}
	return out
}

// refuseUnknown refuses explicit input with keys the format does not have
// (nodes.conf keeps such keys with a warning; a client means what it
// sends).
func refuseUnknown(ws []inventory.Warning) error {
	var msgs []string
	for _, w := range ws {
		if w.Kept {
			msgs = append(msgs, w.Problem())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errorf(http.StatusBadRequest, "%s", strings.Join(msgs, "\n"))
}
