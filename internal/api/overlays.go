package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/site"
)

// overlayInfo is Warewulf's shape of an overlay: its files (not its
// directories) and whether it is a site overlay, and where it comes from
// (ours).
type overlayInfo struct {
	Files  []string `json:"files"`
	Site   bool     `json:"site"`
	Origin string   `json:"origin"`
}

func describeOverlay(o *overlay.Overlay) overlayInfo {
	info := overlayInfo{Files: []string{}, Site: o.Origin == overlay.OriginSite, Origin: string(o.Origin)}
	for _, f := range o.Files {
		if f.Kind != overlay.KindDir {
			info.Files = append(info.Files, "/"+f.Path)
		}
	}
	return info
}

func (s *Server) listOverlays(w http.ResponseWriter, r *http.Request) error {
	names, err := s.site.Overlays().Names()
	if err != nil {
		return err
	}
	out := make(map[string]overlayInfo, len(names))
	for _, name := range names {
		o, err := s.site.Overlays().Get(name)
		if err != nil {
			return err
		}
		out[name] = describeOverlay(o)
	}
	reply(w, http.StatusOK, out)
	return nil
}

// existingOverlay answers 404 for an overlay that does not exist.
func (s *Server) existingOverlay(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if _, _, ok := s.site.Overlays().Locate(name); !ok {
		return "", errorf(http.StatusNotFound, "overlay %q does not exist", name)
	}
	return name, nil
}

func (s *Server) getOverlay(w http.ResponseWriter, r *http.Request) error {
	name, err := s.existingOverlay(r)
	if err != nil {
		return err
	}
	return s.replyOverlay(w, name, nil)
}

// replyOverlay answers an overlay as GET /api/overlays/{name} does,
// which is what Warewulf's overlay writes answer, with the warnings in
// Warning headers.
func (s *Server) replyOverlay(w http.ResponseWriter, name string, warnings []string) error {
	o, err := s.site.Overlays().Get(name)
	if err != nil {
		return err
	}
	warn(w, warnings)
	reply(w, http.StatusOK, describeOverlay(o))
	return nil
}

// overlayFile is Warewulf's shape of one overlay file: Path is the path
// asked for, Perms the permission bits as a number, Contents the file's
// text or what it renders to. Target (a symbolic link's) and Rendered
// (each file a template made, rendered for a node) are ours.
type overlayFile struct {
	Overlay  string        `json:"overlay"`
	Path     string        `json:"path"`
	Contents string        `json:"contents"`
	Perms    fs.FileMode   `json:"perms"`
	UID      int           `json:"uid"`
	GID      int           `json:"gid"`
	Target   string        `json:"target,omitempty"`
	Rendered []overlayFile `json:"rendered,omitempty"`
}

// overlayFileArgs returns the overlay of the path and the file of ?path=.
func (s *Server) overlayFileArgs(r *http.Request) (name, file string, err error) {
	if name, err = s.existingOverlay(r); err != nil {
		return "", "", err
	}
	file = r.URL.Query().Get("path")
	if file == "" {
		return "", "", errorf(http.StatusBadRequest, "must specify a path (a file of the overlay, such as etc/hosts.ww)")
	}
	return name, file, nil
}

// getOverlayFile answers a file's source, or with ?render=NODE what it
// renders to for that node in contents (a name that is not a node
// renders for the server, as "wwctl overlay show --render" does).
func (s *Server) getOverlayFile(w http.ResponseWriter, r *http.Request) error {
	name, p, err := s.overlayFileArgs(r)
	if err != nil {
		return err
	}
	o, err := s.site.Overlays().Get(name)
	if err != nil {
		return err
	}
	rel := strings.Trim(p, "/")
	var src *overlay.SourceFile
	for _, f := range o.Files {
		if f.Path == rel && f.Kind != overlay.KindDir {
			src = f
		}
	}
	if src == nil {
		return errorf(http.StatusNotFound, "overlay %q has no file %s", name, p)
	}
	out := overlayFile{Overlay: name, Path: p, Contents: string(src.Data), Perms: src.Mode.Perm(), UID: src.UID, GID: src.GID,
		Target: src.Target}
	node := r.URL.Query().Get("render")
	if node == "" {
		reply(w, http.StatusOK, out)
		return nil
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	rd, err := snap.Renderer(name)
	if err != nil {
		return err
	}
	target, host := snap.RenderTarget(node)
	entries, err := rd.RenderFile(target, host, name, p)
	if err != nil {
		return errorf(http.StatusBadRequest, "render %s of overlay %q for %s: %v", p, name, node, err)
	}
	out.Target, out.Rendered = "", []overlayFile{}
	for _, e := range entries {
		out.Rendered = append(out.Rendered, overlayFile{Overlay: name, Path: "/" + e.Path, Contents: string(e.Data),
			Perms: e.Mode.Perm(), UID: e.UID, GID: e.GID, Target: e.Target})
	}
	out.Contents = renderedContents(rel, entries)
	reply(w, http.StatusOK, out)
	return nil
}

// renderedContents is what a template rendered to, in the text
// Warewulf's API gives: the output as it is when the template wrote
// only its own file; "Symlink: TARGET" for a link; each file it made
// under a "Filename: NAME" line when it named files; "Aborted" when it
// made nothing.
func renderedContents(template string, entries []*overlay.Entry) string {
	own := strings.TrimSuffix(template, ".ww")
	one := func(e *overlay.Entry) string {
		if e.Kind == overlay.KindSymlink {
			return "Symlink: " + e.Target + "\n"
		}
		return string(e.Data)
	}
	switch {
	case len(entries) == 0:
		return "Aborted\n"
	case len(entries) == 1 && entries[0].Path == own:
		return one(entries[0])
	}
	dir := path.Dir(template)
	var b strings.Builder
	for _, e := range entries {
		// Named as the template named it: relative to its directory.
		name := e.Path
		if dir != "." {
			if rel, ok := strings.CutPrefix(e.Path, dir+"/"); ok {
				name = rel
			} else {
				name = "/" + e.Path
			}
		}
		b.WriteString("Filename: " + name + "\n" + one(e))
	}
	return b.String()
}

// createOverlay makes an empty site overlay; 409 when one of that name
// exists.
func (s *Server) createOverlay(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !naming.Overlay.Valid(name) {
		return errorf(http.StatusBadRequest, "overlay name %q is not valid (letters, digits, '-', '.', '_', ':')", name)
	}
	if _, _, ok := s.site.Overlays().Locate(name); ok {
		return errorf(http.StatusConflict, "%s overlay already exists", name)
	}
	if err := s.site.Overlays().Create(name); err != nil {
		return err
	}
	return s.replyOverlay(w, name, s.reload())
}

// fileBody is the request body of an overlay file write.
type fileBody struct {
	Content string `json:"content"`
	// Perms (ours) is an octal mode such as "0644"; "" keeps an
	// existing file's mode, or gives a new one 0644.
	Perms string `json:"perms,omitempty"`
}

// putOverlayFile writes a file into an overlay (a shipped overlay is
// copied to the site directory first), making missing directories. A
// template must parse. "If-None-Match: *" only creates. It answers the
// overlay, as Warewulf's does.
func (s *Server) putOverlayFile(w http.ResponseWriter, r *http.Request) error {
	name, p, err := s.overlayFileArgs(r)
	if err != nil {
		return err
	}
	var body fileBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	var mode fs.FileMode // 0: keep an existing file's, 0644 for a new one
	if body.Perms != "" {
		m, err := strconv.ParseUint(body.Perms, 8, 32)
		if err != nil || m > 0o7777 {
			return errorf(http.StatusBadRequest, "perms %q is not an octal mode such as 0644", body.Perms)
		}
		mode = fs.FileMode(m)
	}
	_, _, err = s.site.WriteOverlayFile(site.OverlayFile{Overlay: name, Path: p, Content: []byte(body.Content),
		Mode: mode, CreateOnly: r.Header.Get("If-None-Match") == "*"})
	switch {
	case errors.Is(err, site.ErrBadTemplate), errors.Is(err, site.ErrBadPath), errors.Is(err, site.ErrFileExists):
		return errorf(http.StatusBadRequest, "%v", err)
	case errors.Is(err, site.ErrNotRegular):
		return errorf(http.StatusConflict, "%v", err)
	case err != nil:
		return err
	}
	return s.replyOverlay(w, name, s.reload())
}

// deleteOverlay removes a site overlay. As in Warewulf, a shipped one,
// or one a node or profile names (unless ?force), is an invalid
// argument; one with files needs ?force too. It answers what remains of
// the name (a shipped overlay the site one shadowed, or no files).
func (s *Server) deleteOverlay(w http.ResponseWriter, r *http.Request) error {
	name, err := s.existingOverlay(r)
	if err != nil {
		return err
	}
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	if origin, _, _ := s.site.Overlays().Locate(name); origin != overlay.OriginSite {
		return errorf(http.StatusBadRequest, "%s overlay: %s", origin, name)
	}
	if !force {
		inv, err := s.site.Nodes().Load()
		if err != nil {
			return err
		}
		if err := site.CheckOverlayUnused(inv, name); err != nil {
			return errorf(http.StatusBadRequest, "%v", err)
		}
	}
	if err := s.site.Overlays().Delete(name, force); err != nil {
		return &httpError{code: http.StatusConflict, status: "ABORTED", msg: err.Error()}
	}
	ws := s.reload()
	out := overlayInfo{Files: []string{}, Site: true, Origin: string(overlay.OriginSite)}
	if o, err := s.site.Overlays().Get(name); err == nil {
		out.Files = describeOverlay(o).Files
	}
	warn(w, ws)
	reply(w, http.StatusOK, out)
	return nil
}

// deleteOverlayFile removes a file, or with ?force a directory and what
// it holds; ?cleanup also removes directories left empty. It answers the
// overlay.
func (s *Server) deleteOverlayFile(w http.ResponseWriter, r *http.Request) error {
	name, p, err := s.overlayFileArgs(r)
	if err != nil {
		return err
	}
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	cleanup, err := boolQuery(r, "cleanup")
	if err != nil {
		return err
	}
	o, err := s.site.Overlays().Get(name)
	if err != nil {
		return err
	}
	found := false
	for _, f := range o.Files {
		found = found || f.Path == strings.Trim(p, "/")
	}
	if !found {
		return errorf(http.StatusNotFound, "overlay %q has no file %s", name, p)
	}
	if err := s.site.Overlays().DeleteFile(name, p, force, cleanup); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return &httpError{code: http.StatusConflict, status: "ABORTED",
				msg: fmt.Sprintf("%v (a directory that is not empty needs force=true)", err)}
		}
		return err
	}
	return s.replyOverlay(w, name, s.reload())
}
