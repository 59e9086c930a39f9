package site

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/inventory"
)

// InUseError refuses to delete something nodes or profiles still name.
type InUseError struct {
	What, Name string
	// Users are "node NAME" and "profile NAME", nodes first, each in
	// natural order.
	Users []string
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("%s %q is used by %s; change them first", e.What, e.Name, strings.Join(e.Users, ", "))
}

// ImageNamedBy returns the nodes and profiles that name image name
// themselves (not through a profile).
func ImageNamedBy(inv *inventory.Inventory, name string) []string {
	var direct []string
	for _, n := range inv.NodeNames() {
		if p := inv.Nodes[n].ImageName; p != nil && *p == name {
			direct = append(direct, "node "+n)
		}
	}
	for _, n := range inv.ProfileNames() {
		if p := inv.Profiles[n].ImageName; p != nil && *p == name {
			direct = append(direct, "profile "+n)
		}
	}
	return direct
}

// ImageNodes returns the nodes whose merged image is name.
func ImageNodes(merged []*inventory.Merged, name string) []string {
	var nodes []string
	for _, m := range merged {
		if m.ImageName != nil && *m.ImageName == name {
			nodes = append(nodes, m.Name)
		}
	}
	return nodes
}

// CheckImageDeletable refuses an image that does not exist, or that a
// node or profile of inv names (an *InUseError).
func (s *Site) CheckImageDeletable(inv *inventory.Inventory, name string) error {
	if !s.images.Exists(name) {
		return fmt.Errorf("image %q does not exist", name)
	}
	if users := ImageNamedBy(inv, name); len(users) > 0 {
		return &InUseError{What: "image", Name: name, Users: users}
	}
	return nil
}

// DeleteImage deletes an image no node or profile names.
func (s *Site) DeleteImage(name string) error {
	inv, err := s.nodes.Load()
	if err != nil {
		return err
	}
	if err := s.CheckImageDeletable(inv, name); err != nil {
		return err
	}
	return s.images.Delete(name)
}

// RenameImage renames an image and the nodes and profiles that name it.
// The image is renamed first; when nodes.conf cannot be changed after,
// the error says that it still names the old name.
func (s *Site) RenameImage(ctx context.Context, from, to string) error {
	if err := s.images.Rename(from, to); err != nil {
		return err
	}
	_, err := s.nodes.Update(ctx, func(inv *inventory.Inventory) error {
		for _, n := range inv.Nodes {
			if n.ImageName != nil && *n.ImageName == from {
				n.ImageName = &to
			}
		}
		for _, p := range inv.Profiles {
			if p.ImageName != nil && *p.ImageName == from {
				p.ImageName = &to
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("image renamed, but nodes.conf still names %s: %w", from, err)
	}
	return nil
}

// OverlayNamedBy returns the nodes and profiles whose own system or
// runtime overlay list names overlay name ("~name", which drops it, is
// not a use).
func OverlayNamedBy(inv *inventory.Inventory, name string) []string {
	var users []string
	for _, n := range inv.NodeNames() {
		if e := inv.Nodes[n]; slices.Contains(e.SystemOverlay, name) || slices.Contains(e.RuntimeOverlay, name) {
			users = append(users, "node "+n)
		}
	}
	for _, n := range inv.ProfileNames() {
		if e := inv.Profiles[n]; slices.Contains(e.SystemOverlay, name) || slices.Contains(e.RuntimeOverlay, name) {
			users = append(users, "profile "+n)
		}
	}
	return users
}

// CheckOverlayUnused refuses an overlay that a node or profile of inv
// names (an *InUseError), as Warewulf refuses to delete one.
func CheckOverlayUnused(inv *inventory.Inventory, name string) error {
	if users := OverlayNamedBy(inv, name); len(users) > 0 {
		return &InUseError{What: "overlay", Name: name, Users: users}
	}
	return nil
}
