package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/config"
)

// IpxeMapEdit is a planned change of the tftp.ipxe map of a warewulf.conf.
type IpxeMapEdit struct {
	Path string
	// Old is the file as read (nil when there was none), New the edited
	// one, Diff a unified diff between them ("" when equal).
	Old, New []byte
	Diff     string
}

// PlanIpxeMap reads the warewulf.conf at path (a missing file is an
// empty one) and edits its tftp.ipxe map to binaries, keeping every other
// line; nothing is written.
func PlanIpxeMap(path string, binaries map[string]string) (*IpxeMapEdit, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tftp.ipxe: %w", err)
	}
	edited, err := config.SetIpxe(old, path, binaries)
	if err != nil {
		return nil, err
	}
	return &IpxeMapEdit{Path: path, Old: old, New: edited, Diff: unifiedDiff(path, old, edited)}, nil
}

// Write replaces the file with New atomically, under the lock the
// writers of warewulf.conf take, unless it changed since it was read.
func (e *IpxeMapEdit) Write(ctx context.Context) error {
	if e.Diff == "" {
		return nil
	}
	unlock, err := atomicfile.Lock(ctx, e.Path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	now, err := os.ReadFile(e.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tftp.ipxe: %w", err)
	}
	if !bytes.Equal(now, e.Old) {
		return fmt.Errorf("%s changed while the edit was planned: nothing written, run again", e.Path)
	}
	if err := atomicfile.WriteFile(e.Path, e.New, 0o644); err != nil {
		return fmt.Errorf("tftp.ipxe: %w", err)
	}
	return nil
}
