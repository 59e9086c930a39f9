package image

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// ExcludesFile is where an image keeps its own excludes, inside its root
// filesystem, as in Warewulf.
const ExcludesFile = "etc/warewulf/excludes"

// ReadExcludes reads an excludes file: one pattern per line; blank lines
// and lines starting with "#" are ignored, and leading and trailing blanks
// are trimmed. A missing file means no patterns and no error. Patterns are
// not checked here; Build refuses a malformed one, naming it.
func ReadExcludes(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read excludes: %w", err)
	}
	var pats []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pats = append(pats, line)
	}
	return pats, nil
}

// excludePattern is one compiled line of an excludes list.
type excludePattern struct {
	text     string // as given, for messages
	glob     string // without the anchoring "/" and the trailing "/"
	anchored bool   // matched against the whole path from the root
	dirOnly  bool   // matches directories only
}

// excluder decides which paths of a tree are left out of its archive.
//
// A pattern is a shell glob (path.Match: "*", "?", "[...]", none of which
// matches "/"). A pattern that starts with "/" or has a "/" inside is
// anchored: it matches the whole path from the root of the tree, so
// "/usr/share/man" and "usr/share/man" are the same pattern, as they are
// to Warewulf. A pattern without a "/" matches the last component of a
// path at any depth ("*.pyc", "__pycache__"). A trailing "/" makes it
// match directories only. A matched directory is left out with all it
// holds; "/tmp/*" leaves the directory /tmp in and its contents out.
type excluder struct {
	patterns []excludePattern
}

// newExcluder compiles patterns, refusing one path.Match cannot parse or
// one that names the root itself.
func newExcluder(patterns []string) (*excluder, error) {
	e := &excluder{}
	for _, p := range patterns {
		text := strings.TrimSpace(p)
		if text == "" {
			continue
		}
		c := excludePattern{text: text}
		glob := text
		if strings.HasSuffix(glob, "/") {
			c.dirOnly = true
			glob = strings.TrimRight(glob, "/")
		}
		if strings.HasPrefix(glob, "/") {
			glob = strings.TrimLeft(glob, "/")
			c.anchored = true
		}
		if strings.Contains(glob, "/") {
			c.anchored = true
		}
		if glob == "" || glob == "." {
			return nil, fmt.Errorf("exclude pattern %q: would exclude the whole tree", text)
		}
		if _, err := path.Match(glob, ""); err != nil {
			return nil, fmt.Errorf("exclude pattern %q: %w", text, err)
		}
		c.glob = glob
		e.patterns = append(e.patterns, c)
	}
	return e, nil
}

// match reports whether rel, a clean slash-separated path relative to the
// root ("usr/bin/ls"), is excluded, and by which pattern.
func (e *excluder) match(rel string, isDir bool) (string, bool) {
	base := path.Base(rel)
	for _, p := range e.patterns {
		if p.dirOnly && !isDir {
			continue
		}
		name := base
		if p.anchored {
			name = rel
		}
		if ok, _ := path.Match(p.glob, name); ok {
			return p.text, true
		}
	}
	return "", false
}

// key returns the patterns in a canonical form, for the build digest.
func (e *excluder) key() string {
	var b strings.Builder
	for _, p := range e.patterns {
		fmt.Fprintf(&b, "%t %t %s\x00", p.anchored, p.dirOnly, p.glob)
	}
	return b.String()
}
