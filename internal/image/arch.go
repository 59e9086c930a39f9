package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/arch"
	"github.com/wwboot/wwboot/internal/atomicfile"
)

// ArchFile is the file beside an image's rootfs that records its
// architecture (ArchInfo as JSON), written by an import and by each
// build that changed the tree, so that listing images and building
// overlays read it instead of the image's programs.
const ArchFile = "arch.json"

// ArchInfo is what is known of an image's architecture.
type ArchInfo struct {
	// Arch is Warewulf's name of the architecture (x86_64, aarch64, ...);
	// "" when neither the import nor the image's programs told it.
	Arch string `json:"arch"`
	// Source says where Arch comes from: "oci platform linux/arm64/v8",
	// or the program whose ELF header gave it ("/usr/bin/busybox").
	Source string `json:"source"`
}

// archCandidates are the programs whose ELF header tells an image's
// architecture, best first: every Linux image has one of them. Links
// are followed inside the image; scripts are skipped.
func archCandidates() []string {
	return []string{"/sbin/init", "/bin/sh", "/usr/bin/sh", "/bin/busybox", "/usr/bin/busybox",
		"/usr/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd"}
}

// loaderDirs are where the dynamic loader (ld-linux*) is looked for
// when no candidate program told the architecture.
func loaderDirs() []string { return []string{"/lib64", "/lib", "/usr/lib64", "/usr/lib"} }

// DetectArch reads the architecture of the image at root from the ELF
// header of its programs (archCandidates, then the dynamic loader),
// following links inside the image: the first that is ELF decides. It
// returns the architecture and the file it read; an image without any of
// them gives an error.
func DetectArch(root string) (ArchInfo, error) {
	tried := archCandidates()
	for _, dir := range loaderDirs() {
		loaders, _ := GlobIn(root, dir+"/ld-linux*")
		tried = append(tried, loaders...)
	}
	for _, p := range tried {
		a, err := elfArch(root, p)
		if err == nil {
			return ArchInfo{Arch: a, Source: p}, nil
		}
		if !errors.Is(err, errSkip) {
			return ArchInfo{}, fmt.Errorf("architecture of %s: %s: %w", root, p, err)
		}
	}
	return ArchInfo{}, fmt.Errorf("architecture of %s: no ELF program found (looked at %s and ld-linux* in %s)",
		root, strings.Join(archCandidates(), ", "), strings.Join(loaderDirs(), ", "))
}

// errSkip marks a candidate that is missing or no ELF file.
var errSkip = errors.New("skip")

func elfArch(root, p string) (string, error) {
	host, err := resolveIn(root, p)
	if err != nil {
		return "", errSkip
	}
	f, err := os.Open(host)
	if err != nil {
		return "", errSkip
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return "", errSkip
	}
	a, err := arch.FromELF(f)
	if errors.Is(err, arch.ErrNotELF) {
		return "", errSkip
	}
	return a, err
}

// ArchFromPlatform is the architecture of an OCI platform
// ("linux/arm64/v8" is aarch64).
func ArchFromPlatform(platform string) (string, error) {
	parts := strings.Split(platform, "/")
	if len(parts) < 2 {
		return "", fmt.Errorf("platform %q has no architecture", platform)
	}
	return arch.Parse(parts[1])
}

// Arch returns what is recorded of the image's architecture (ArchFile);
// for an image with no record (made before architectures were recorded
// and not built since) it reads the image's programs, without recording
// what they say.
func (im *Images) Arch(name string) (ArchInfo, error) {
	data, err := os.ReadFile(filepath.Join(im.Dir(name), ArchFile))
	if errors.Is(err, fs.ErrNotExist) {
		info, err := DetectArch(im.RootFS(name))
		if err != nil {
			return ArchInfo{}, fmt.Errorf("image %s: %w", name, err)
		}
		return info, nil
	}
	if err != nil {
		return ArchInfo{}, fmt.Errorf("image %s: %w", name, err)
	}
	var info ArchInfo
	if err := json.Unmarshal(data, &info); err != nil {
		return ArchInfo{}, fmt.Errorf("image %s: %s: %w", name, filepath.Join(im.Dir(name), ArchFile), err)
	}
	if info.Arch != "" {
		if info.Arch, err = arch.Parse(info.Arch); err != nil {
			return ArchInfo{}, fmt.Errorf("image %s: %s: %w", name, filepath.Join(im.Dir(name), ArchFile), err)
		}
	}
	return info, nil
}

// SetArch records the image's architecture.
func (im *Images) SetArch(name string, info ArchInfo) error {
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(im.Dir(name), ArchFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("image %s: record its architecture: %w", name, err)
	}
	return nil
}

// RecordArch detects the image's architecture from its programs and
// records it. When no program tells it, a recorded platform (from the
// import) stays; when the programs contradict it, they win, since they
// are what the node runs, and warn says so.
func (im *Images) RecordArch(name string, warn func(msg string, args ...any)) (ArchInfo, error) {
	detected, derr := DetectArch(im.RootFS(name))
	var old ArchInfo
	if data, err := os.ReadFile(filepath.Join(im.Dir(name), ArchFile)); err == nil {
		_ = json.Unmarshal(data, &old)
	}
	if derr != nil {
		if old.Arch != "" && strings.HasPrefix(old.Source, "oci platform") {
			return old, nil
		}
		detected = ArchInfo{Source: derr.Error()}
	} else if old.Arch != "" && old.Arch != detected.Arch && warn != nil {
		warn("the image's programs are for another architecture than recorded", "image", name,
			"recorded", old.Arch, "from", old.Source, "programs", detected.Arch, "program", detected.Source)
	}
	if old == detected {
		return old, nil
	}
	return detected, im.SetArch(name, detected)
}

// KnownArchs is the architectures of the images named, by image, for
// the images whose architecture is known.
func (im *Images) KnownArchs(names []string) map[string]string {
	out := map[string]string{}
	for _, n := range slices.Compact(slices.Sorted(slices.Values(names))) {
		if info, err := im.Arch(n); err == nil && info.Arch != "" {
			out[n] = info.Arch
		}
	}
	return out
}
