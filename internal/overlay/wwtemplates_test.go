package overlay

import (
	"testing"
)

// TestWarewulfTemplateCases checks what Warewulf 4.7's own tests of
// template rendering expect (overlay_test.go, funcmap_test.go), with
// fixtures of our own.
func TestWarewulfTemplateCases(t *testing.T) {
	const ov = "var/warewulf/overlays/t/rootfs/"
	const nodes = "nodes:\n  bare: {}\n  scratch:\n    disks:\n      /dev/vda:\n        wipe_table: true\n" +
		"        partitions:\n          scratch:\n            should_exist: true\n    filesystems:\n" +
		"      /dev/disk/by-partlabel/scratch:\n        format: btrfs\n        path: /scratch\n        wipe_filesystem: true\n"
	for _, tc := range []struct {
		name  string
		node  string // "bare" when empty
		files map[string]string
		want  map[string]string
		err   string
	}{
		{
			name:  "IgnitionJson of a partition without number and a file system",
			node:  "scratch",
			files: map[string]string{ov + "i.ww": "{{IgnitionJson}}"},
			want: map[string]string{"i": `{"ignition":{"version":"3.1.0"},"storage":{"disks":[{"device":"/dev/vda","partitions":[{"label":"scratch","shouldExist":true}],"wipeTable":true}],` +
				`"filesystems":[{"device":"/dev/disk/by-partlabel/scratch","format":"btrfs","path":"/scratch","wipeFilesystem":true}]}}`},
		},
		{
			name:  "IgnitionJson of a node without disks is empty",
			files: map[string]string{ov + "none.ww": "[{{IgnitionJson}}]"},
			want:  map[string]string{"none": "[]"},
		},
		{
			name:  "a node without settings prints empty values and maps",
			files: map[string]string{ov + "node.txt.ww": "\nIPMI user:{{ .Ipmi.UserName}}\nKernel Version:{{.Kernel.Version}}\nNetDevs:{{.NetDevs}}\nTags:{{.Tags}}\n"},
			want:  map[string]string{"node.txt": "\nIPMI user:\nKernel Version:\nNetDevs:map[]\nTags:map[]\n"},
		},
		{
			name:  "file splits a template into files, each with its line's newline",
			files: map[string]string{ov + "file.txt.ww": "\n{{ file \"t1.txt\" }}\nT1\n{{ file \"t2.txt\" }}\nT2\n{{ file \"t3.txt\" }}\nT3\n"},
			want:  map[string]string{"t1.txt": "\nT1\n", "t2.txt": "\nT2\n", "t3.txt": "\nT3\n"},
		},
		{
			name:  "a template of only softlink is a link",
			files: map[string]string{ov + "test-link.ww": "\n{{- softlink \"/test-target\" }}\n"},
			want:  map[string]string{"test-link": "-> /test-target"},
		},
		{
			name:  "file and softlink make several links",
			files: map[string]string{ov + "test-link.ww": "\n{{ file \"test-link1\"}}\n{{ softlink \"/test-target1\" }}\n{{ file \"test-link2\"}}\n{{ softlink \"/test-target2\" }}\n"},
			want:  map[string]string{"test-link1": "-> /test-target1", "test-link2": "-> /test-target2"},
		},
		{
			name:  "abort writes none of the template's files",
			files: map[string]string{ov + "file.txt.ww": "{{file \"a\"}}A{{file \"b\"}}B{{abort}}", ov + "other.ww": "kept"},
			want:  map[string]string{"other": "kept"},
		},
		{
			// Warewulf 4.7's abort ends the execution where it is called.
			name:  "what follows abort is not run",
			files: map[string]string{ov + "file.txt.ww": "x{{abort}}{{readlink \"/nonexistent\"}}{{.Nosuch}}"},
			want:  map[string]string{},
		},
		{
			name:  "an absolute name passing through .. inside the image",
			files: map[string]string{ov + "etc/a.ww": "{{- file \"/opt/../srv/x\" -}}x"},
			want:  map[string]string{"srv/x": "x"},
		},
		{
			name:  "an absolute name that leaves the image is an error",
			files: map[string]string{ov + "file.txt.ww": "{{- file \"/../../etc/shadow\" -}}escaped"},
			err:   "leaves the overlay",
		},
		{
			name:  "a name of the image's root is an error",
			files: map[string]string{ov + "etc/file.txt.ww": "{{- file \"/\" -}}x"},
			err:   "names no file",
		},
		{
			name:  "a relative name that leaves the image is an error",
			files: map[string]string{ov + "file.txt.ww": "{{- file \"../../../../etc/shadow\" -}}escaped"},
			err:   "leaves the overlay",
		},
		{
			name:  "inc, dec, basename, SystemdEscape and sprig",
			files: map[string]string{ov + "f.ww": "{{inc 1}} {{dec 5}} {{basename \"/path/to/file\"}} {{SystemdEscape \"foo-bar/baz\"}} {{ \"hello\" | upper }}"},
			want:  map[string]string{"f": `2 4 file foo\x2dbar-baz HELLO`},
		},
		{
			name: "Include and IncludeBlock",
			files: map[string]string{
				"etc/warewulf/test-include": "included content\n",
				"etc/warewulf/test-block":   "line1\nline2\nABORT\nline3\n",
				ov + "f.ww":                 "{{Include \"test-include\"}}|{{IncludeBlock \"test-block\" \"ABORT\"}}|{{IncludeBlock \"nosuch\" \"END\"}}",
			},
			want: map[string]string{"f": "included content|line1\nline2\nABORT|END"},
		},
		{
			name: "IncludeFrom an image, and from no image",
			files: map[string]string{
				"var/warewulf/chroots/test-image/rootfs/file-in-image": "image content\n",
				ov + "f.ww": "{{IncludeFrom \"test-image\" \"file-in-image\"}}|{{IncludeFrom \"\" \"file-in-image\"}}|{{IncludeFrom \"nosuch\" \"x\"}}",
			},
			want: map[string]string{"f": "image content||"},
		},
		{
			name: "UniqueField keeps the first line of each key and every line without one",
			files: map[string]string{ov + "f.ww": "[{{UniqueField \":\" 0 \"\"}}]" +
				"[{{UniqueField \":\" 0 \"\\nname1:aaaa\\nname2:bbbb\\n\"}}]" +
				"[{{UniqueField \":\" 0 \"\\nname1: aaaa\\nname1: bbbb\\n\"}}]"},
			want: map[string]string{"f": "[][\nname1:aaaa\nname2:bbbb\n][\nname1: aaaa\n]"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			node := tc.node
			if node == "" {
				node = "bare"
			}
			newFixtureNodes(t, nodes, tc.files).check(t, node, tc.want, tc.err)
		})
	}
}
