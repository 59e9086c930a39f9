package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/oci"
	"github.com/wwboot/wwboot/internal/site"
)

// imageInfo is Warewulf's shape of an image, with the nodes that boot it
// and its architecture (ours).
type imageInfo struct {
	Kernels []string `json:"kernels"`
	// Size is the size in bytes of the uncompressed boot archive
	// NAME.img, as Warewulf's; 0 when there is none (a build writes it
	// only when asked to, as "wwctl image list -s" shows).
	Size int64 `json:"size"`
	// BuildTime is when the archives were last built, in unix seconds;
	// 0 when never.
	BuildTime int64    `json:"buildtime"`
	Writable  bool     `json:"writable"`
	Nodes     []string `json:"nodes"`
	// Arch is the image's architecture (x86_64, aarch64); "" when not
	// known.
	Arch string `json:"arch"`
}

func (s *Server) imageInfo(merged []*inventory.Merged, name string) (imageInfo, error) {
	info := imageInfo{Kernels: []string{}, Nodes: []string{}, Writable: !s.site.Images().ReadOnly(name)}
	ks, err := image.Kernels(s.site.Images().RootFS(name))
	if err != nil {
		return info, err
	}
	for _, k := range ks {
		info.Kernels = append(info.Kernels, k.Path)
	}
	for _, b := range s.site.Images().Archives(name) {
		if strings.HasSuffix(b.Path, ".img") {
			info.Size = b.Size
		}
		info.BuildTime = max(info.BuildTime, b.ModTime.Unix())
	}
	info.Nodes = append(info.Nodes, site.ImageNodes(merged, name)...)
	if a, err := s.site.Images().Arch(name); err == nil {
		info.Arch = a.Arch
	}
	return info, nil
}

// replyImage answers an image as GET /api/images/{name} does, which is
// what Warewulf's image writes answer.
func (s *Server) replyImage(w http.ResponseWriter, name string) error {
	inv, err := s.site.Nodes().Load()
	if err != nil {
		return err
	}
	info, err := s.imageInfo(inv.MergeAll(), name)
	if err != nil {
		return err
	}
	reply(w, http.StatusOK, info)
	return nil
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	names, err := s.site.Images().Names()
	if err != nil {
		return err
	}
	inv, err := s.site.Nodes().Load()
	if err != nil {
		return err
	}
	merged := inv.MergeAll()
	out := make(map[string]imageInfo, len(names))
	for _, name := range names {
		if out[name], err = s.imageInfo(merged, name); err != nil {
			return err
		}
	}
	reply(w, http.StatusOK, out)
	return nil
}

func (s *Server) existingImage(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !s.site.Images().Exists(name) {
		return "", errorf(http.StatusNotFound, "image %q does not exist", name)
	}
	return name, nil
}

// imageAndInventory checks that the image of the path exists and reads
// the inventory.
func (s *Server) imageAndInventory(r *http.Request) (string, *inventory.Inventory, error) {
	name, err := s.existingImage(r)
	if err != nil {
		return "", nil, err
	}
	inv, err := s.site.Nodes().Load()
	return name, inv, err
}

func (s *Server) getImage(w http.ResponseWriter, r *http.Request) error {
	name, err := s.existingImage(r)
	if err != nil {
		return err
	}
	return s.replyImage(w, name)
}

// buildImage builds the image as "wwctl image build" does (the site's
// build: the configured excludes and the image's own, then the
// bootstraps of two-stage boot when the stage-one program is installed);
// ?force rebuilds an unchanged tree. The request waits for the build,
// and answers the image; the build's warnings come in Warning headers.
func (s *Server) buildImage(w http.ResponseWriter, r *http.Request) error {
	name, err := s.existingImage(r)
	if err != nil {
		return err
	}
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	res, err := s.site.BuildImage(r.Context(), name, site.BuildOptions{Force: force})
	if err != nil {
		return err
	}
	warn(w, res.Warnings)
	return s.replyImage(w, name)
}

// deleteImage removes an image that no node or profile names, and
// answers it as it was.
func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request) error {
	name, inv, err := s.imageAndInventory(r)
	if err != nil {
		return err
	}
	info, err := s.imageInfo(inv.MergeAll(), name)
	if err != nil {
		return err
	}
	var inUse *site.InUseError
	if err := s.site.DeleteImage(name); errors.As(err, &inUse) {
		return errorf(http.StatusBadRequest, "%v", err)
	} else if err != nil {
		return err
	}
	reply(w, http.StatusOK, info)
	return nil
}

// renameRequest is the body of PATCH /api/images/{name}: Warewulf's.
type renameRequest struct {
	// Name is the image's new name; "" changes nothing.
	Name string `json:"name"`
}

// updateImage renames an image, and the nodes and profiles that name it,
// as "wwctl image rename" does; then, unless ?build=false, builds it
// (Warewulf's default). It answers the image under its new name.
func (s *Server) updateImage(w http.ResponseWriter, r *http.Request) error {
	name, err := s.existingImage(r)
	if err != nil {
		return err
	}
	build := true
	if r.URL.Query().Has("build") {
		if build, err = boolQuery(r, "build"); err != nil {
			return err
		}
	}
	var req renameRequest
	if err := decodeOptionalBody(r, &req); err != nil {
		return err
	}
	if req.Name == "" || req.Name == name {
		return s.replyImage(w, name)
	}
	if !naming.Image.Valid(req.Name) {
		return errorf(http.StatusBadRequest, "image name %q is not valid (letters, digits, '-', '_', '.', ':')", req.Name)
	}
	if s.site.Images().Exists(req.Name) {
		return errorf(http.StatusConflict, "image %q already exists", req.Name)
	}
	if err := s.site.RenameImage(r.Context(), name, req.Name); err != nil {
		return err
	}
	ws := s.reload()
	if build {
		res, err := s.site.BuildImage(r.Context(), req.Name, site.BuildOptions{Force: true})
		if err != nil {
			return fmt.Errorf("image renamed to %s, but not built: %w", req.Name, err)
		}
		ws = append(ws, res.Warnings...)
	}
	warn(w, ws)
	return s.replyImage(w, req.Name)
}

// importRequest is the body of an image import: Warewulf's fields.
type importRequest struct {
	// URI is what to import: docker://REGISTRY/REPO:TAG, oci:DIR,
	// oci-archive:FILE, an archive or a directory on the server.
	URI      string `json:"uri"`
	NoHTTPS  bool   `json:"nohttps"`
	User     string `json:"user"`
	Password string `json:"password"`
}

// importImage imports an image as "wwctl image import" does (the site's
// import: the "image import" limits, the download cache); ?force
// replaces an image of that name. The request waits for the import, and
// answers the image, as Warewulf's does.
func (s *Server) importImage(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !naming.Image.Valid(name) {
		return errorf(http.StatusBadRequest, "image name %q is not valid (letters, digits, '-', '_', '.', ':')", name)
	}
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
	var req importRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.URI == "" {
		return errorf(http.StatusBadRequest, `request body: "uri" names what to import`)
	}
	exists := s.site.Images().Exists(name)
	if exists && !force {
		return errorf(http.StatusConflict, "image %q already exists (force=true replaces it)", name)
	}
	info, err := s.site.ImportImage(r.Context(), req.URI, name, site.ImportOptions{
		Replace: force, Username: req.User, Password: req.Password, NoHTTPS: req.NoHTTPS})
	var le *oci.LimitError
	if errors.As(err, &le) || errors.Is(err, oci.ErrUnsafe) {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if err != nil {
		return err
	}
	s.log.Info("image imported through the API", "image", name, "source", info.Source, "kind", info.Kind,
		"digest", info.Digest, "platform", info.Platform)
	return s.replyImage(w, name)
}
