package api

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/inventory"
)

// openAPIHandler serves the OpenAPI 3 description of the routes.
func (s *Server) openAPIHandler(w http.ResponseWriter, r *http.Request) error {
	reply(w, http.StatusOK, s.openAPI())
	return nil
}

// docsPage stands where Warewulf serves its Swagger UI: swagger-ui's
// scripts are not bundled (no third-party assets, and the server may be
// offline), so the page links to the description, which any OpenAPI
// viewer opens.
func (s *Server) docsPage(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err := io.WriteString(w, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>wwboot REST API</title></head>
<body><h1>wwboot REST API</h1>
<p>This server bundles no Swagger UI. The API's OpenAPI 3 description is
<a href="/api/docs/openapi.json">/api/docs/openapi.json</a> (also at
<a href="/api/openapi.json">/api/openapi.json</a>); open it in any OpenAPI viewer.</p>
</body></html>
`)
	return err
}

// openAPI describes every route of the table the mux is built from, so
// the description cannot drift from the routes. The node and profile
// schemas come from the inventory's field tables.
func (s *Server) openAPI() map[string]any {
	paths := map[string]map[string]any{}
	for _, rt := range s.routes {
		var params []any
		for _, seg := range strings.Split(rt.path, "/") {
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				params = append(params, map[string]any{"name": strings.TrimSuffix(name, "}"), "in": "path", "required": true,
					"schema": typ("string")})
			}
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "required": q.required,
				"description": q.desc, "schema": typ(q.typ)})
		}
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": operationID(rt),
			"responses":   responses(rt),
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.body != "" {
			op["requestBody"] = map[string]any{"required": !rt.bodyOptional,
				"content": map[string]any{"application/json": map[string]any{"schema": ref(rt.body)}}}
		}
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "wwboot REST API",
			"version": "1",
			"description": "The provisioning daemon's API, compatible with Warewulf v4's. Every request needs HTTP Basic " +
				"credentials of a user in auth.conf and a client address in api.allowed subnets; with api.tls, TLS.",
		},
		"security": []any{map[string]any{"basicAuth": []any{}}},
		"paths":    paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"basicAuth": map[string]any{"type": "http", "scheme": "basic"}},
			"schemas":         schemas(),
		},
	}
}

// operationID is "get_api_nodes_id" for GET /api/nodes/{id}.
func operationID(rt route) string {
	p := strings.NewReplacer("{", "", "}", "", ".", "_", "/", "_").Replace(strings.Trim(rt.path, "/"))
	return strings.ToLower(rt.method) + "_" + p
}

func responses(rt route) map[string]any {
	out := map[string]any{
		"401": textResponse("Missing or wrong credentials: Unauthorized"),
		"403": textResponse("Client address not allowed, or TLS required: Forbidden"),
	}
	for _, c := range rt.codes {
		switch {
		case c >= 200 && c < 300:
			out[strconv.Itoa(c)] = jsonResponse(http.StatusText(c), rt.resp)
		case c >= 500 && rt.resp == "BMCResult":
			out[strconv.Itoa(c)] = jsonResponse("The BMC failed (504: it did not answer in time)", rt.resp)
		default:
			out[strconv.Itoa(c)] = errorResponse(http.StatusText(c))
		}
	}
	ok := jsonResponse("OK", rt.resp)
	if rt.mime != "" {
		ok = map[string]any{"description": "OK", "content": map[string]any{rt.mime: map[string]any{"schema": ref(rt.resp)}}}
	}
	if rt.method != http.MethodGet {
		ok["headers"] = map[string]any{"Warning": map[string]any{
			"description": `One per warning (problems nodes.conf already had, a reload that failed): 199 wwctl "TEXT"`,
			"schema":      typ("string")}}
	}
	out["200"] = ok
	return out
}

// textResponse is a plain-text answer, as Warewulf's authentication
// middleware gives.
func textResponse(desc string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{"text/plain": map[string]any{"schema": typ("string")}}}
}

func jsonResponse(desc, schema string) map[string]any {
	return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": ref(schema)}}}
}

func errorResponse(desc string) map[string]any { return jsonResponse(desc, "Error") }

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func typ(t string) map[string]any { return map[string]any{"type": t} }

func object(props map[string]any) map[string]any {
	return map[string]any{"type": "object", "properties": props}
}

func mapOf(v any) map[string]any { return map[string]any{"type": "object", "additionalProperties": v} }

func arrayOf(v any) map[string]any { return map[string]any{"type": "array", "items": v} }

// fieldProps describes the keys of one nodes.conf entity.
func fieldProps[T any](fields []inventory.Field[T]) map[string]any {
	props := map[string]any{}
	for _, f := range fields {
		var p map[string]any
		switch {
		case f.List != nil:
			p = arrayOf(typ("string"))
		case f.Map != nil:
			p = mapOf(typ("string"))
		case f.Kind == inventory.KindYAMLBool || f.Kind == inventory.KindBool:
			p = map[string]any{"oneOf": []any{typ("boolean"), typ("string")}}
		default:
			p = typ("string")
		}
		p["description"] = f.Help
		props[f.Key] = p
	}
	return props
}

// entitySchemas returns the Profile and Node schemas: nodes.conf's keys.
func entitySchemas() (profile, node map[string]any) {
	props := fieldProps(inventory.ProfileFields())
	props["kernel"] = object(fieldProps(inventory.KernelFields()))
	props["ipmi"] = object(fieldProps(inventory.IPMIFields()))
	netdev := fieldProps(inventory.NetDevFields())
	netdev[onbootJSON] = netdev[onbootYAML] // Warewulf's JSON name
	delete(netdev, onbootYAML)
	props["network devices"] = mapOf(object(netdev))
	disk := fieldProps(inventory.DiskFields())
	disk["partitions"] = mapOf(object(fieldProps(inventory.PartitionFields())))
	props["disks"] = mapOf(object(disk))
	props["filesystems"] = mapOf(object(fieldProps(inventory.FileSystemFields())))
	props["resources"] = mapOf(map[string]any{"description": "Free-form structured data"})
	profile = object(props)
	profile["additionalProperties"] = false
	nodeProps := map[string]any{}
	for k, v := range props {
		nodeProps[k] = v
	}
	for k, v := range fieldProps(inventory.NodeFields()) {
		nodeProps[k] = v
	}
	node = object(nodeProps)
	node["additionalProperties"] = false
	return profile, node
}

func schemas() map[string]any {
	profile, node := entitySchemas()
	str := typ("string")
	integer := typ("integer")
	boolean := typ("boolean")
	strList := arrayOf(str)
	overlayFile := object(map[string]any{"overlay": str, "path": str, "contents": str, "perms": integer,
		"uid": integer, "gid": integer, "target": str})
	overlayFile["properties"].(map[string]any)["rendered"] = arrayOf(ref("OverlayFile"))
	return map[string]any{
		"Error": object(map[string]any{"status": map[string]any{"type": "string", "description": "The canonical status, " +
			"such as INVALID_ARGUMENT or NOT_FOUND; absent on an internal error"},
			"error":    map[string]any{"type": "string", "description": `The message, after the status's description ("invalid argument: ...")`},
			"problems": map[string]any{"type": "array", "items": str, "description": "Each problem of a refused write"}}),
		"OpenAPI":  map[string]any{"type": "object", "description": "This document"},
		"DocsPage": map[string]any{"type": "string", "description": "An HTML page"},
		"Status": object(map[string]any{"nodes": mapOf(object(map[string]any{
			"node name": str, "stage": str, "sent": str, "ipaddr": str, "last seen": integer, "bytes": integer}))}),
		"Node":         node,
		"Profile":      profile,
		"NodeMap":      mapOf(ref("Node")),
		"ProfileMap":   mapOf(ref("Profile")),
		"NodeBody":     object(map[string]any{"node": ref("Node")}),
		"ProfileBody":  object(map[string]any{"profile": ref("Profile")}),
		"FieldList":    arrayOf(object(map[string]any{"Field": str, "Source": str, "Value": str})),
		"NodeOverlays": object(map[string]any{"system overlay": ref("OverlayState"), "runtime overlay": ref("OverlayState")}),
		"OverlayState": object(map[string]any{"overlays": strList,
			"mtime": map[string]any{"type": "string", "format": "date-time", "description": "When the image was built; absent when not"}}),
		"NodeNames":       strList,
		"NodeName":        str,
		"BuildRequest":    object(map[string]any{"nodes": strList}),
		"PowerRequest":    object(map[string]any{"action": str}),
		"BootDevRequest":  object(map[string]any{"device": str, "persistent": boolean}),
		"IdentifyRequest": object(map[string]any{"on": boolean}),
		"BMCResult": object(map[string]any{"node": str, "bmc": str, "power": str, "message": str,
			"sensors": arrayOf(object(map[string]any{"name": str, "type": str, "reading": str, "unit": str, "status": str,
				"thresholds": mapOf(str)}))}),
		"Image": object(map[string]any{"kernels": strList, "size": integer, "buildtime": integer, "writable": boolean,
			"nodes": strList, "arch": str}),
		"ImageMap":           mapOf(ref("Image")),
		"ImageImportRequest": object(map[string]any{"uri": str, "nohttps": boolean, "user": str, "password": str}),
		"ImageRenameRequest": object(map[string]any{"name": str}),
		"Overlay":            object(map[string]any{"files": strList, "site": boolean, "origin": str}),
		"OverlayMap":         mapOf(ref("Overlay")),
		"OverlayFile":        overlayFile,
		"FileBody":           object(map[string]any{"content": str, "perms": str}),
	}
}
