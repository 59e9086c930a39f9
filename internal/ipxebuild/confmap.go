package ipxebuild

import (
	"fmt"
	"maps"
	"strings"
)

// IpxeMap is the tftp.ipxe map of warewulf.conf after a build: current
// (the map in effect, the defaults when the file has none: a map in the
// file replaces them entirely) with every architecture code of a built
// binary pointing at its file. Notes say which codes changed and which
// binaries no code boots (.lkrn, .iso, a second binary for the same
// code: the first target given wins).
func IpxeMap(current map[string]string, built []Built) (map[string]string, []string) {
	out := maps.Clone(current)
	if out == nil {
		out = map[string]string{}
	}
	var notes []string
	taken := map[string]string{}
	for _, b := range built {
		codes := b.Target.ArchCodes()
		if len(codes) == 0 {
			notes = append(notes, fmt.Sprintf("%s is not a network boot loader of any DHCP client architecture: tftp.ipxe does not name it", b.Path))
			continue
		}
		var set []string
		for _, code := range codes {
			if first, ok := taken[code]; ok {
				notes = append(notes, fmt.Sprintf("%s: client architecture %s keeps %s, built first", b.Path, code, first))
				continue
			}
			taken[code] = b.Path
			if out[code] != b.Path {
				set = append(set, code)
			}
			out[code] = b.Path
		}
		if len(set) > 0 {
			notes = append(notes, fmt.Sprintf("client architecture %s: %s", strings.Join(set, ", "), b.Path))
		}
	}
	return out, notes
}
