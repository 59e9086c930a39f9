package site

import (
	"errors"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
)

// ErrDefaultProfile refuses to delete the default profile, which nodes
// added without --profile get.
var ErrDefaultProfile = errors.New("the default profile cannot be deleted")

// CheckProfilesDeletable refuses to delete the default profile
// (ErrDefaultProfile) or a profile that a node, or a profile not deleted
// with it, lists (an *InUseError).
func CheckProfilesDeletable(inv *inventory.Inventory, names []string) error {
	for _, name := range names {
		if name == "default" {
			return ErrDefaultProfile
		}
		if users := ProfileUsers(inv, name, names); len(users) > 0 {
			return &InUseError{What: "profile", Name: name, Users: users}
		}
	}
	return nil
}

// ProfileUsers names the nodes ("node(s) n[001-004]") and the other
// profiles ("profile(s) gpu,ib") that list profile, also as "~profile",
// leaving out the profiles in deleting.
func ProfileUsers(inv *inventory.Inventory, profile string, deleting []string) []string {
	uses := func(list []string) bool {
		return slices.ContainsFunc(list, func(p string) bool { return strings.TrimPrefix(p, "~") == profile })
	}
	var nodes, profiles []string
	for _, name := range inv.NodeNames() {
		if uses(inv.Nodes[name].Profiles) {
			nodes = append(nodes, name)
		}
	}
	for _, name := range inv.ProfileNames() {
		if !slices.Contains(deleting, name) && uses(inv.Profiles[name].Profiles) {
			profiles = append(profiles, name)
		}
	}
	var out []string
	if len(nodes) > 0 {
		out = append(out, "node(s) "+hostlist.Compress(nodes))
	}
	if len(profiles) > 0 {
		out = append(out, "profile(s) "+strings.Join(profiles, ","))
	}
	return out
}
