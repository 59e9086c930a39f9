package site

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/overlay"
)

// Errors of WriteOverlayFile a front end answers differently.
var (
	// ErrBadTemplate: a *.ww file that does not parse.
	ErrBadTemplate = errors.New("template does not parse")
	// ErrBadPath: a path outside the overlay, or an invalid overlay name.
	ErrBadPath = errors.New("bad overlay path")
	// ErrFileExists: the file exists and only creating was asked for.
	ErrFileExists = errors.New("file exists")
	// ErrNotRegular: the path is a directory, link or other non-file.
	ErrNotRegular = errors.New("not a regular file")
)

// kindError is an error whose message is its own and that matches kind
// under errors.Is.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func errorOf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// CheckTemplate parses text as an overlay template when file is one
// (*.ww); other files are not checked.
func CheckTemplate(file string, text []byte) error {
	if !strings.HasSuffix(file, ".ww") {
		return nil
	}
	_, err := template.New(file).Funcs(overlay.FuncNames()).Parse(string(text))
	return err
}

// OverlayFile is a file to write into an overlay.
type OverlayFile struct {
	Overlay, Path string
	Content       []byte
	// Mode is the file's permissions; 0 keeps an existing file's, and
	// gives a new one 0644.
	Mode fs.FileMode
	// CreateOnly refuses to replace an existing file (ErrFileExists).
	CreateOnly bool
	// DirMode is the mode of the directories made for the file; 0 is
	// 0755.
	DirMode fs.FileMode
}

// WriteOverlayFile checks a template, then writes the file into the
// site copy of its overlay (a shipped overlay is copied to the site
// directory first), making missing directories. It returns whether the
// file is new and the mode it got. Nothing is written when a check
// fails.
func (s *Site) WriteOverlayFile(f OverlayFile) (created bool, mode fs.FileMode, err error) {
	if err := CheckTemplate(f.Path, f.Content); err != nil {
		return false, 0, errorOf(ErrBadTemplate, "template %s does not parse: %v", f.Path, err)
	}
	dst, err := s.overlays.SitePath(f.Overlay, f.Path)
	if err != nil {
		return false, 0, errorOf(ErrBadPath, "%v", err)
	}
	mode = f.Mode
	st, statErr := os.Lstat(dst)
	exists := statErr == nil
	switch {
	case exists && f.CreateOnly:
		return false, 0, errorOf(ErrFileExists, "overlay %q already has %s", f.Overlay, f.Path)
	case exists && !st.Mode().IsRegular():
		return false, 0, errorOf(ErrNotRegular, "%s in overlay %q is not a regular file", f.Path, f.Overlay)
	case exists && mode == 0:
		mode = st.Mode().Perm()
	case mode == 0:
		mode = 0o644
	}
	if err := mkdirs(filepath.Dir(dst), f.DirMode); err != nil {
		return false, 0, fmt.Errorf("overlay %q: %w", f.Overlay, err)
	}
	if err := atomicfile.WriteFile(dst, f.Content, mode); err != nil {
		return false, 0, err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return false, 0, fmt.Errorf("overlay %q: %w", f.Overlay, err)
	}
	return !exists, mode, nil
}

// mkdirs makes dir and its missing parents with mode (0: 0755), whatever
// the umask.
func mkdirs(dir string, mode fs.FileMode) error {
	if mode == 0 {
		mode = 0o755
	}
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	for _, d := range missing {
		if err := os.Chmod(d, mode); err != nil {
			return err
		}
	}
	return nil
}

// MissingOverlayError is an overlay name that names no overlay.
type MissingOverlayError struct{ Name string }

func (e *MissingOverlayError) Error() string { return fmt.Sprintf("overlay %q does not exist", e.Name) }

// CheckOverlaysExist refuses the first name that names no overlay
// (a *MissingOverlayError). "~NAME" (drop an inherited overlay) is
// checked as NAME; "" is skipped.
func (s *Site) CheckOverlaysExist(names ...string) error {
	for _, name := range names {
		name = strings.TrimPrefix(name, "~")
		if name == "" {
			continue
		}
		if _, _, ok := s.overlays.Locate(name); !ok {
			return &MissingOverlayError{Name: name}
		}
	}
	return nil
}
