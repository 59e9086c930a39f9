package inventory

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// DefaultNodesConf is the nodes.conf a new installation starts from: the
// "default" profile every new node gets.
//
//go:embed nodes.conf
var defaultNodesConf []byte

// DefaultNodesConf returns the shipped nodes.conf.
func DefaultNodesConf() []byte { return bytes.Clone(defaultNodesConf) }

// Store is a nodes.conf file. Reads need no lock because writes replace
// the file atomically; writes are serialized by a lock file beside it.
// A new file is created readable by its owner only: it holds BMC
// passwords.
type Store struct {
	path string
	warn func(Warning)

	mu sync.Mutex
	// warned is the digest of the content last warned about, so that a
	// process that reads an unchanged file again does not repeat itself.
	warned [sha256.Size]byte
}

// StoreOptions are what a store is opened with.
type StoreOptions struct {
	// Warn receives the warnings about the file (see Warning) the first
	// time a content is read; nil discards them.
	Warn func(Warning)
}

// NewStore returns the store for the nodes.conf at path. The file need
// not exist: until the first write the shipped default is used.
func NewStore(path string) *Store { return NewStoreWith(path, StoreOptions{}) }

// NewStoreWith is NewStore with options.
func NewStoreWith(path string, o StoreOptions) *Store { return &Store{path: path, warn: o.Warn} }

// Path is the nodes.conf path.
func (s *Store) Path() string { return s.path }

// Load reads the current inventory.
func (s *Store) Load() (*Inventory, error) {
	data, _, err := s.read()
	if err != nil {
		return nil, err
	}
	return s.parse(data)
}

// parse reads data and passes the warnings about it on, once per content.
func (s *Store) parse(data []byte) (*Inventory, error) {
	inv, err := Parse(data, s.path)
	if err != nil || s.warn == nil || len(inv.warnings) == 0 {
		return inv, err
	}
	sum := sha256.Sum256(data)
	s.mu.Lock()
	seen := s.warned == sum
	s.warned = sum
	s.mu.Unlock()
	if !seen {
		for _, w := range inv.warnings {
			s.warn(w)
		}
	}
	return inv, nil
}

// read returns the file's content, or the shipped default and exists
// false when there is no file yet.
func (s *Store) read() (data []byte, exists bool, err error) {
	data, err = os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return DefaultNodesConf(), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read nodes.conf: %w", err)
	}
	return data, true, nil
}

// ValidationError is returned when a change would make the inventory
// invalid. Nothing was written.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.String())
	}
	return "refused, nothing changed:\n" + strings.Join(lines, "\n")
}

// Update runs change on the current inventory under the store's exclusive
// lock, validates the result and writes it atomically. The change is
// refused, and the file left byte for byte as it was, when change fails
// or introduces a problem (see Validate); problems the file already had
// are returned as warnings and do not block unrelated edits. Two
// processes updating at once both see their change land.
func (s *Store) Update(ctx context.Context, change func(*Inventory) error) (warnings []Problem, err error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return nil, fmt.Errorf("update nodes.conf: %w", err)
	}
	unlock, err := atomicfile.Lock(ctx, s.path+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()

	data, exists, err := s.read()
	if err != nil {
		return nil, err
	}
	inv, warnings, err := s.apply(data, change)
	if err != nil {
		return warnings, err
	}
	out, err := inv.Marshal()
	if err != nil {
		return warnings, err
	}
	if exists && bytes.Equal(out, data) {
		return warnings, nil
	}
	if err := atomicfile.RemoveStale(s.path); err != nil {
		return warnings, err
	}
	if err := atomicfile.WriteFile(s.path, out, 0o600); err != nil {
		return warnings, fmt.Errorf("update nodes.conf: %w", err)
	}
	return warnings, nil
}

// Check is Update without the write: whether change, made to the current
// inventory now, would be accepted, and with which warnings. A command
// that asks before it changes anything checks first, so that it never
// asks about a change it would then refuse.
func (s *Store) Check(change func(*Inventory) error) (warnings []Problem, err error) {
	data, _, err := s.read()
	if err != nil {
		return nil, err
	}
	_, warnings, err = s.apply(data, change)
	return warnings, err
}

// apply runs change on the inventory data holds and validates the
// result: problems data already had are warnings, new ones refuse it.
func (s *Store) apply(data []byte, change func(*Inventory) error) (*Inventory, []Problem, error) {
	inv, err := s.parse(data)
	if err != nil {
		return nil, nil, err
	}
	if err := change(inv); err != nil {
		return nil, nil, err
	}
	after := inv.Validate()
	if len(after) == 0 {
		return inv, nil, nil
	}
	before, err := Parse(data, s.path)
	if err != nil {
		return nil, nil, err
	}
	old := map[string]bool{}
	for _, p := range before.Validate() {
		old[p.String()] = true
	}
	var warnings, added []Problem
	for _, p := range after {
		if old[p.String()] {
			warnings = append(warnings, p)
		} else {
			added = append(added, p)
		}
	}
	if len(added) > 0 {
		return nil, warnings, &ValidationError{Problems: added}
	}
	return inv, warnings, nil
}
