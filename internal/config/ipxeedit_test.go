package config

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetIpxe(t *testing.T) {
	built := map[string]string{"00:00": "/srv/ipxe/bin-x86_64-pcbios-undionly.kpxe", "00:07": "ipxe-snponly-x86_64.efi"}
	block := []string{
		"  ipxe:",
		`    "00:00": /srv/ipxe/bin-x86_64-pcbios-undionly.kpxe`,
		`    "00:07": ipxe-snponly-x86_64.efi`,
	}
	tests := []struct {
		name     string
		in       []byte
		binaries map[string]string
		want     []byte
	}{
		{name: "map replaced, the rest kept",
			in: text("# site", "ipaddr: 10.0.0.1", "tftp:", "  enabled: true # on", "  # the map", "  ipxe:",
				`    "00:00": undionly.kpxe`, "    # a comment in the map", `    00:0B: arm64.efi`, "", "  # limits", "  max transfers: 9", "nfs:", "  enabled: false"),
			binaries: built,
			want: text(append(append([]string{"# site", "ipaddr: 10.0.0.1", "tftp:", "  enabled: true # on", "  # the map"}, block...),
				"", "  # limits", "  max transfers: 9", "nfs:", "  enabled: false")...)},
		{name: "no ipxe key: added under tftp",
			in:       text("tftp:", "  enabled: true", "nfs:", "  enabled: false"),
			binaries: built,
			want:     text(append(append([]string{"tftp:"}, block...), "  enabled: true", "nfs:", "  enabled: false")...)},
		{name: "no tftp section: added at the end",
			in:       []byte("ipaddr: 10.0.0.1"), // no final newline
			binaries: built,
			want:     text(append([]string{"ipaddr: 10.0.0.1", "tftp:"}, block...)...)},
		{name: "empty file", in: nil, binaries: built, want: text(append([]string{"tftp:"}, block...)...)},
		{name: "empty tftp section",
			in:       text("tftp: # nothing yet", "nfs:", "  enabled: false"),
			binaries: built,
			want:     text(append(append([]string{"tftp: # nothing yet"}, block...), "nfs:", "  enabled: false")...)},
		{name: "flow map on one line",
			in:       text("tftp:", "  ipxe: {}", "  enabled: true"),
			binaries: built,
			want:     text(append(append([]string{"tftp:"}, block...), "  enabled: true")...)},
		{name: "the file's indentation",
			in:       text("tftp:", "    enabled: true", "    ipxe:", `        "00:00": a.kpxe`, "warewulf:", "    port: 9873"),
			binaries: map[string]string{"00:00": "/b/my ipxe.kpxe"},
			want:     text("tftp:", "    enabled: true", "    ipxe:", `        "00:00": "/b/my ipxe.kpxe"`, "warewulf:", "    port: 9873")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetIpxe(tt.in, "warewulf.conf", tt.binaries)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(tt.want), string(got)); diff != "" {
				t.Errorf("edited file (-want +got):\n%s", diff)
			}
		})
	}
}

// The shipped warewulf.conf changes in its map's lines only.
func TestSetIpxeShipped(t *testing.T) {
	data, err := os.ReadFile("warewulf.conf")
	if err != nil {
		t.Fatal(err)
	}
	got, err := SetIpxe(data, "warewulf.conf", map[string]string{"00:00": "/x/undionly.kpxe"})
	if err != nil {
		t.Fatal(err)
	}
	oldLines, newLines := strings.Split(string(data), "\n"), strings.Split(string(got), "\n")
	var removed, added []string
	for _, l := range oldLines {
		if !strings.Contains(string(got), l+"\n") {
			removed = append(removed, l)
		}
	}
	for _, l := range newLines {
		if !strings.Contains(string(data), l+"\n") {
			added = append(added, l)
		}
	}
	if diff := cmp.Diff([]string{`    "00:00": undionly.kpxe`, `    "00:07": ipxe-snponly-x86_64.efi`, `    "00:09": ipxe-snponly-x86_64.efi`, `    "00:0B": arm64-efi/snponly.efi`}, removed); diff != "" {
		t.Errorf("removed lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`    "00:00": /x/undionly.kpxe`}, added); diff != "" {
		t.Errorf("added lines (-want +got):\n%s", diff)
	}
	if len(newLines) != len(oldLines)-3 {
		t.Errorf("%d lines, want %d", len(newLines), len(oldLines)-3)
	}
}

func TestSetIpxeErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		binaries map[string]string
		want     string
	}{
		{name: "file with problems", in: text("tftp:", "  ipxe: [a]"), binaries: map[string]string{"00:00": "a"},
			want: "fix them before it is edited"},
		{name: "flow tftp", in: text("tftp: {enabled: true}"), binaries: map[string]string{"00:00": "a"},
			want: "warewulf.conf:1: tftp: written in flow style"},
		{name: "nothing to write", in: nil, binaries: nil, want: "no tftp.ipxe entries"},
		{name: "bad code", in: nil, binaries: map[string]string{"7": "a"}, want: `"7" is not an architecture code`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SetIpxe(tt.in, "warewulf.conf", tt.binaries)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
