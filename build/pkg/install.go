package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// gzipped compresses data with no name or time in the header, so that the
// same page gives the same bytes.
func gzipped(data []byte) ([]byte, error) {
	var b bytes.Buffer
	w, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Install writes entries under destdir ("" or "/": the running system).
// An existing configuration file is kept, and the new one is written
// beside it as <name>.new for the administrator to compare, so that
// "make install" over an installation never loses an edit. The report
// lists what it kept. Owners other than root are set only when running
// as root.
func Install(destdir string, entries []Entry, report io.Writer) error {
	root := os.Geteuid() == 0
	for _, e := range entries {
		p := filepath.Join(destdir, filepath.FromSlash(e.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		switch e.Kind {
		case Dir:
			if err := os.MkdirAll(p, e.Mode); err != nil {
				return err
			}
		case Symlink:
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := os.Symlink(e.Target, p); err != nil {
				return err
			}
		case File:
			if e.Config {
				if _, err := os.Lstat(p); err == nil {
					fmt.Fprintf(report, "kept %s; the shipped one is %s.new\n", p, p)
					p += ".new"
				}
			}
			if err := writeFile(p, e.Data, e.Mode); err != nil {
				return err
			}
		}
		if e.Kind != Symlink {
			if err := os.Chmod(p, e.Mode); err != nil {
				return err
			}
		}
		if root && (e.UID != 0 || e.GID != 0) {
			if err := os.Lchown(p, e.UID, e.GID); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFile replaces p through a temporary file, so that installing over
// a running wwctl does not fail with "text file busy".
func writeFile(p string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}
