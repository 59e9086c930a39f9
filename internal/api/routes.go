package api

import (
	"net/http"

	"github.com/wwboot/wwboot/internal/site"
)

// route is one API operation: what the mux registers and what the
// OpenAPI document describes, from the same entry.
type route struct {
	method, path string
	summary      string
	query        []param
	body         string // schema name of the request body, "" for none
	bodyOptional bool
	resp         string // schema name of the success response
	// mime is the success response's content type; "" is JSON.
	mime   string
	codes  []int // success and error codes besides 401/403
	handle func(http.ResponseWriter, *http.Request) error
}

// param is a query parameter.
type param struct {
	name, typ, desc string
	required        bool
}

func (s *Server) routeTable() []route {
	forceParam := param{name: "force", typ: "boolean", desc: "Rebuild or delete even when it would otherwise be refused"}
	pathParam := param{name: "path", typ: "string", desc: "A file of the overlay, such as etc/hosts.ww", required: true}
	renderParam := param{name: "render", typ: "string", desc: "Render the template for this node (a name that is not a node renders for the server)"}
	var routes []route
	routes = append(routes,
		route{method: "GET", path: "/api/openapi.json", summary: "This API's OpenAPI 3 description", resp: "OpenAPI",
			handle: s.openAPIHandler},
		// Where Warewulf (swaggest's web.Service.Docs) serves the
		// description, beside its Swagger UI at /api/docs.
		route{method: "GET", path: "/api/docs/openapi.json", summary: "This API's OpenAPI 3 description", resp: "OpenAPI",
			handle: s.openAPIHandler},
		route{method: "GET", path: "/api/docs", summary: "A page linking to the OpenAPI description (no Swagger UI is bundled)",
			resp: "DocsPage", mime: "text/html; charset=utf-8", handle: s.docsPage},
		route{method: "GET", path: "/api/status", summary: "Every node's provisioning status", resp: "Status",
			handle: s.getStatus},
	)
	for _, k := range []site.Kind{site.NodeKind, site.ProfileKind} {
		noun, plural, schema := string(k), k.Plural(), schemaOf(k)
		base := "/api/" + plural + "/"
		// Warewulf applies profiles to nodes only.
		view := ", with their profiles applied (BMC passwords masked)"
		if k == site.ProfileKind {
			view = ", as in nodes.conf (BMC passwords masked)"
		}
		routes = append(routes,
			route{method: "GET", path: base, summary: "All " + plural + view, resp: schema + "Map",
				handle: s.list(k)},
			route{method: "GET", path: base + "{id}", summary: "One " + noun + view, resp: schema,
				codes: []int{404}, handle: s.get(k, false)},
			route{method: "GET", path: base + "{id}/raw", summary: "One " + noun + "'s own fields, as in nodes.conf", resp: schema,
				codes: []int{404}, handle: s.get(k, true)},
			route{method: "GET", path: base + "{id}/fields", summary: "Every field of one " + noun + " and where its value comes from",
				resp: "FieldList", codes: []int{404}, handle: s.fields(k)},
			route{method: "PUT", path: base + "{id}", summary: "Add or replace a " + noun + " (If-None-Match: * only adds)",
				body: schema + "Body", resp: schema, codes: []int{400}, handle: s.put(k)},
			route{method: "PATCH", path: base + "{id}", summary: "Change a " + noun + "'s own fields (JSON merge patch; null removes)",
				body: schema + "Body", resp: schema, codes: []int{400, 404}, handle: s.patch(k)},
			route{method: "DELETE", path: base + "{id}", summary: "Delete a " + noun + " (one in use is refused)", resp: schema,
				codes: []int{400, 404}, handle: s.remove(k)},
		)
	}
	routes = append(routes, s.bmcRoutes()...)
	routes = append(routes,
		route{method: "GET", path: "/api/nodes/{id}/overlays", summary: "A node's system and runtime overlays", resp: "NodeOverlays",
			codes: []int{404}, handle: s.getNodeOverlays},
		route{method: "POST", path: "/api/nodes/overlays/build",
			summary: "Build the overlay images of the nodes named (all when none); answers their names",
			body:    "BuildRequest", bodyOptional: true, resp: "NodeNames", codes: []int{400, 404, 500},
			handle: s.buildAllOverlays},
		route{method: "POST", path: "/api/nodes/{id}/overlays/build", summary: "Build one node's overlay images; answers its name",
			resp: "NodeName", codes: []int{404, 500}, handle: s.buildNodeOverlays},

		route{method: "GET", path: "/api/images", summary: "All images", resp: "ImageMap", handle: s.listImages},
		route{method: "GET", path: "/api/images/{name}", summary: "One image", resp: "Image", codes: []int{404},
			handle: s.getImage},
		route{method: "POST", path: "/api/images/{name}/build", summary: "Build an image's boot archives (waits for the build)",
			query: []param{forceParam}, resp: "Image", codes: []int{404}, handle: s.buildImage},
		route{method: "POST", path: "/api/images/{name}/import", summary: "Import an image (waits for the import; force replaces one)",
			query: []param{forceParam}, body: "ImageImportRequest", resp: "Image", codes: []int{400, 409},
			handle: s.importImage},
		route{method: "PATCH", path: "/api/images/{name}", summary: "Rename an image and the nodes and profiles naming it, then build it",
			query: []param{{name: "build", typ: "boolean", desc: "Build the renamed image (default true)"}},
			body:  "ImageRenameRequest", bodyOptional: true, resp: "Image", codes: []int{400, 404, 409}, handle: s.updateImage},
		route{method: "DELETE", path: "/api/images/{name}", summary: "Delete an image no node or profile names; answers it as it was",
			resp: "Image", codes: []int{400, 404}, handle: s.deleteImage},

		route{method: "GET", path: "/api/overlays/", summary: "All overlays", resp: "OverlayMap", handle: s.listOverlays},
		route{method: "GET", path: "/api/overlays/{name}", summary: "One overlay's files", resp: "Overlay", codes: []int{404},
			handle: s.getOverlay},
		route{method: "PUT", path: "/api/overlays/{name}", summary: "Create an empty site overlay", resp: "Overlay",
			codes: []int{400, 409}, handle: s.createOverlay},
		route{method: "DELETE", path: "/api/overlays/{name}", summary: "Delete a site overlay (one in use or with files only with force)",
			query: []param{forceParam}, resp: "Overlay", codes: []int{400, 404, 409}, handle: s.deleteOverlay},
		route{method: "GET", path: "/api/overlays/{name}/file", summary: "A file of an overlay, or what it renders to for a node",
			query: []param{pathParam, renderParam}, resp: "OverlayFile", codes: []int{400, 404}, handle: s.getOverlayFile},
		route{method: "PUT", path: "/api/overlays/{name}/file", summary: "Write a file of an overlay (If-None-Match: * only creates)",
			query: []param{pathParam}, body: "FileBody", resp: "Overlay", codes: []int{400, 404, 409}, handle: s.putOverlayFile},
		route{method: "DELETE", path: "/api/overlays/{name}/file", summary: "Delete a file of an overlay",
			query: []param{pathParam, forceParam, {name: "cleanup", typ: "boolean", desc: "Also delete directories left empty"}},
			resp:  "Overlay", codes: []int{400, 404, 409}, handle: s.deleteOverlayFile},
	)
	return routes
}
