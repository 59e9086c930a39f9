package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/site"
)

// overlayInfo is Warewulf's shape of an overlay: its paths and whether
// it is a site overlay, and where it comes from.
type overlayInfo struct {
	Files  []string `json:"files"`
	Site   bool     `json:"site"`
	Origin string   `json:"origin"`
}

func describeOverlay(o *overlay.Overlay) overlayInfo {
	info := overlayInfo{Files: []string{}, Site: o.Origin == overlay.OriginSite, Origin: string(o.Origin)}
	for _, f := range o.Files {
		p := "/" + f.Path
		if f.Kind == overlay.KindDir {
			p += "/"
		}
		info.Files = append(info.Files, p)
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

// overlayWrite answers an overlay write: the overlay, and what the
// administrator should know (the daemon did not reload).
type overlayWrite struct {
	overlayInfo
	Warnings []string `json:"warnings"`
}

// fileWrite answers an overlay file write.
type fileWrite struct {
	overlayFile
	Warnings []string `json:"warnings"`
}

// warnings is never null in an answer.
func warnings(ws []string) []string { return append([]string{}, ws...) }

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
	o, err := s.site.Overlays().Get(name)
	if err != nil {
		return err
	}
	reply(w, http.StatusOK, describeOverlay(o))
	return nil
}

// overlayFile is Warewulf's shape of one overlay file; Target is set for
// a symbolic link. Rendered, when the file was rendered for a node, holds
// every file the template made (a template may make several, or none).
type overlayFile struct {
	Overlay  string        `json:"overlay"`
	Path     string        `json:"path"`
	Contents string        `json:"contents"`
	Perms    string        `json:"perms"`
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
		return "", "", errorf(http.StatusBadRequest, "query parameter path is required (a file of the overlay, such as /etc/hosts.ww)")
	}
	return name, file, nil
}

func newOverlayFile(overlay, path string, data []byte, mode fs.FileMode, uid, gid int, target string) overlayFile {
	return overlayFile{Overlay: overlay, Path: "/" + strings.TrimPrefix(path, "/"), Contents: string(data),
		Perms: fmt.Sprintf("%04o", mode.Perm()), UID: uid, GID: gid, Target: target}
}

// getOverlayFile answers a file's source, or with ?render=NODE what it
// renders to for that node (a name that is not a node renders for the
// server, as "wwctl overlay show --render" does).
func (s *Server) getOverlayFile(w http.ResponseWriter, r *http.Request) error {
	name, p, err := s.overlayFileArgs(r)
	if err != nil {
		return err
	}
	rel := strings.TrimPrefix(p, "/")
	node := r.URL.Query().Get("render")
	if node == "" {
		o, err := s.site.Overlays().Get(name)
		if err != nil {
			return err
		}
		for _, f := range o.Files {
			if f.Path == rel {
				reply(w, http.StatusOK, newOverlayFile(name, f.Path, f.Data, f.Mode, f.UID, f.GID, f.Target))
				return nil
			}
		}
		return errorf(http.StatusNotFound, "overlay %q has no file %s", name, p)
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
	out := overlayFile{Overlay: name, Path: "/" + rel, Rendered: []overlayFile{}}
	for _, e := range entries {
		out.Rendered = append(out.Rendered, newOverlayFile(name, e.Path, e.Data, e.Mode, e.UID, e.GID, e.Target))
	}
	if len(entries) == 1 {
		one := out.Rendered[0]
		out.Path, out.Contents, out.Perms, out.UID, out.GID, out.Target = one.Path, one.Contents, one.Perms, one.UID, one.GID, one.Target
	}
	reply(w, http.StatusOK, out)
	return nil
}

// createOverlay makes an empty site overlay; 409 when one of that name
// exists.
func (s *Server) createOverlay(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !naming.Overlay.Valid(name) {
		return errorf(http.StatusBadRequest, "overlay name %q is not valid (letters, digits, '-', '.', '_', ':')", name)
	}
	if _, _, ok := s.site.Overlays().Locate(name); ok {
		return errorf(http.StatusConflict, "overlay %q already exists", name)
	}
	if err := s.site.Overlays().Create(name); err != nil {
		return err
	}
	o, err := s.site.Overlays().Get(name)
	if err != nil {
		return err
	}
	reply(w, http.StatusOK, overlayWrite{describeOverlay(o), warnings(s.reload())})
	return nil
}

// fileBody is the request body of an overlay file write.
type fileBody struct {
	Content string `json:"content"`
	// Perms is an octal mode such as "0644"; "" keeps an existing
	// file's mode, or gives a new one 0644.
	Perms string `json:"perms,omitempty"`
}

// putOverlayFile writes a file into an overlay (a shipped overlay is
// copied to the site directory first), making missing directories. A
// template must parse. "If-None-Match: *" only creates.
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
	_, mode, err = s.site.WriteOverlayFile(site.OverlayFile{Overlay: name, Path: p, Content: []byte(body.Content),
		Mode: mode, CreateOnly: r.Header.Get("If-None-Match") == "*"})
	switch {
	case errors.Is(err, site.ErrBadTemplate), errors.Is(err, site.ErrBadPath):
		return errorf(http.StatusBadRequest, "%v", err)
	case errors.Is(err, site.ErrFileExists):
		return errorf(http.StatusBadRequest, "%v (If-None-Match: *)", err)
	case errors.Is(err, site.ErrNotRegular):
		return errorf(http.StatusConflict, "%v", err)
	case err != nil:
		return err
	}
	ws := s.reload()
	reply(w, http.StatusOK, fileWrite{newOverlayFile(name, p, []byte(body.Content), mode, os.Getuid(), os.Getgid(), ""), warnings(ws)})
	return nil
}

// deleteOverlay removes a site overlay; one with files only with ?force.
func (s *Server) deleteOverlay(w http.ResponseWriter, r *http.Request) error {
	name, err := s.existingOverlay(r)
	if err != nil {
		return err
	}
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	if err := s.site.Overlays().Delete(name, force); err != nil {
		return errorf(http.StatusConflict, "%v", err)
	}
	reply(w, http.StatusOK, map[string]any{"deleted": name, "warnings": warnings(s.reload())})
	return nil
}

// deleteOverlayFile removes a file, or with ?force a directory and what
// it holds; ?cleanup also removes directories left empty.
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
			return errorf(http.StatusConflict, "%v (a directory that is not empty needs force=true)", err)
		}
		return err
	}
	reply(w, http.StatusOK, map[string]any{"overlay": name, "deleted": "/" + strings.Trim(p, "/"), "warnings": warnings(s.reload())})
	return nil
}
