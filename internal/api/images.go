package api

import (
	"errors"
	"net/http"

	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/oci"
	"github.com/wwboot/wwboot/internal/site"
)

// imageInfo is Warewulf's shape of an image, with the nodes that boot it.
type imageInfo struct {
	Kernels []string `json:"kernels"`
	// Size is the size of the compressed (zstd, else gzip, else plain)
	// boot archive in bytes; 0 when the image was never built.
	Size int64 `json:"size"`
	// BuildTime is when the archive was last built, in unix seconds.
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
		// Archives lists .img, .img.gz, .img.zst: the last is the one
		// nodes fetch by default.
		info.Size = b.Size
		info.BuildTime = max(info.BuildTime, b.ModTime.Unix())
	}
	info.Nodes = append(info.Nodes, site.ImageNodes(merged, name)...)
	if a, err := s.site.Images().Arch(name); err == nil {
		info.Arch = a.Arch
	}
	return info, nil
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
	name, inv, err := s.imageAndInventory(r)
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

// buildOutput is one archive an image build wrote or found up to date.
type buildOutput struct {
	Format string `json:"format"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// bootstrapOutput is a two-stage boot bootstrap the build made.
type bootstrapOutput struct {
	Kernel   string `json:"kernel"`
	Path     string `json:"path"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Modules  int    `json:"modules"`
	Firmware int    `json:"firmware"`
	// Programs are the programs copied in for the wwinit.d scripts.
	Programs []string `json:"programs"`
}

type imageBuild struct {
	Image      string            `json:"image"`
	Skipped    bool              `json:"skipped"`
	Files      int               `json:"files"`
	Bytes      int64             `json:"bytes"`
	Outputs    []buildOutput     `json:"outputs"`
	Bootstraps []bootstrapOutput `json:"bootstraps"`
	Warnings   []string          `json:"warnings"`
}

// buildImage builds the image as "wwctl image build" does (the site's
// build: the configured excludes and the image's own, then the
// bootstraps of two-stage boot when the stage-one program is installed);
// ?force rebuilds an unchanged tree. The request waits for the build.
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
	out := imageBuild{Image: name, Skipped: res.Skipped, Files: res.Files, Bytes: res.Bytes, Outputs: []buildOutput{},
		Bootstraps: []bootstrapOutput{}, Warnings: append([]string{}, res.Warnings...)}
	for _, o := range res.Outputs {
		out.Outputs = append(out.Outputs, buildOutput{Format: o.Format.String(), Path: o.Path, Size: o.Size, SHA256: o.SHA256})
	}
	for _, b := range res.Bootstraps {
		out.Bootstraps = append(out.Bootstraps, bootstrapOutput{Kernel: b.Kernel, Path: b.Path, Size: b.Size, SHA256: b.SHA256,
			Modules: len(b.Modules), Firmware: len(b.Firmware), Programs: append([]string{}, b.Programs...)})
	}
	reply(w, http.StatusOK, out)
	return nil
}

// deleteImage removes an image that no node or profile names.
func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request) error {
	name, err := s.existingImage(r)
	if err != nil {
		return err
	}
	var inUse *site.InUseError
	if err := s.site.DeleteImage(name); errors.As(err, &inUse) {
		return errorf(http.StatusBadRequest, "%v", err)
	} else if err != nil {
		return err
	}
	reply(w, http.StatusOK, map[string]any{"deleted": name, "warnings": []string{}})
	return nil
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

// imageImport is what an import read.
type imageImport struct {
	Image    string   `json:"image"`
	Source   string   `json:"source"`
	Kind     string   `json:"kind"`
	Digest   string   `json:"digest"`
	Platform string   `json:"platform"`
	Warnings []string `json:"warnings"`
}

// importImage imports an image as "wwctl image import" does (the site's
// import: the "image import" limits, the download cache); ?force
// replaces an image of that name. The request waits for the import.
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
	reply(w, http.StatusOK, imageImport{Image: name, Source: info.Source, Kind: info.Kind, Digest: info.Digest,
		Platform: info.Platform, Warnings: []string{}})
	return nil
}
