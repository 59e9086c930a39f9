package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// copied is a file copyIn put into the image, and what it wrote.
type copied struct {
	dest string // relative to the image root
	data []byte
}

// copyIn copies each bind's source file into the image at its
// destination, through the image root (a link in the image cannot lead
// the write outside it). A destination that exists, or whose directory
// does not, is left alone with a note: the image's own file wins, as in
// Warewulf. Failures are warnings: the command runs without the file.
func copyIn(root string, binds []Bind, log *slog.Logger) []copied {
	if len(binds) == 0 {
		return nil
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		log.Warn("copying files into the image", "err", err)
		return nil
	}
	defer r.Close()
	var out []copied
	for _, b := range binds {
		rel := strings.TrimPrefix(b.Dest, "/")
		if _, err := r.Lstat(rel); err == nil {
			log.Info("the image has the file already: not copied", "source", b.Source, "dest", b.Dest)
			continue
		}
		data, err := copyFile(r, b.Source, rel)
		if err != nil {
			log.Warn("file not copied into the image", "source", b.Source, "dest", b.Dest, "err", err)
			continue
		}
		log.Debug("file copied into the image for the command", "source", b.Source, "dest", b.Dest)
		out = append(out, copied{dest: rel, data: data})
	}
	return out
}

func copyFile(r *os.Root, src, rel string) ([]byte, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", src)
	}
	data, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	out, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return nil, err
	}
	_, err = out.Write(data)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.Remove(rel)
		return nil, err
	}
	return data, nil
}

// removeCopied removes the files copyIn put into the image, unless the
// command changed them (then they are the image's now: their content is
// compared, not their time) or removed them.
func removeCopied(root string, files []copied, log *slog.Logger) {
	if len(files) == 0 {
		return
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		log.Warn("removing the files copied into the image", "err", err)
		return
	}
	defer r.Close()
	for _, c := range files {
		st, err := r.Lstat(c.dest)
		var now []byte
		if err == nil && st.Mode().IsRegular() && st.Size() == int64(len(c.data)) {
			now, err = r.ReadFile(c.dest)
		}
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			log.Warn("copied file left in the image", "dest", "/"+c.dest, "err", err)
		case !bytes.Equal(now, c.data):
			log.Info("the command changed the file copied into the image: kept", "dest", "/"+c.dest)
		default:
			if err := r.Remove(c.dest); err != nil {
				log.Warn("copied file left in the image", "dest", "/"+c.dest, "err", err)
			}
		}
	}
}
