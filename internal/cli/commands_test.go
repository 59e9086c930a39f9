package cli

import (
	"strings"
	"testing"
)

// Every alias Warewulf 4.7 declares for the node and profile commands,
// and the image command's old names, reach the same command here.
func TestWarewulfAliases(t *testing.T) {
	root := (&app{}).rootCommand()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"nodes", "list"}, "wwctl node list"},
		{[]string{"node", "ls"}, "wwctl node list"},
		{[]string{"node", "new"}, "wwctl node add"},
		{[]string{"node", "create"}, "wwctl node add"},
		{[]string{"node", "modify"}, "wwctl node set"},
		{[]string{"node", "rm"}, "wwctl node delete"},
		{[]string{"node", "del"}, "wwctl node delete"},
		{[]string{"node", "remove"}, "wwctl node delete"},
		{[]string{"node", "import"}, "wwctl node import"},
		{[]string{"profile", "ls"}, "wwctl profile list"},
		{[]string{"profile", "new"}, "wwctl profile add"},
		{[]string{"profile", "create"}, "wwctl profile add"},
		{[]string{"profile", "modify"}, "wwctl profile set"},
		{[]string{"profile", "rm"}, "wwctl profile delete"},
		{[]string{"profile", "del"}, "wwctl profile delete"},
		{[]string{"profile", "remove"}, "wwctl profile delete"},
		{[]string{"vnfs", "list"}, "wwctl image list"},
		{[]string{"container", "list"}, "wwctl image list"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd, _, err := root.Find(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if got := cmd.CommandPath(); got != tc.want {
				t.Errorf("%q runs %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}

// A command that only holds subcommands fails on an argument that names
// none of them, and prints its help without one.
func TestUnknownSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
		wantOut string
	}{
		{args: []string{"node", "frob"}, wantErr: `unknown command "frob" for "wwctl node"`},
		{args: []string{"nodes", "lst"}, wantErr: `unknown command "lst" for "wwctl node"; did you mean list or set?`},
		{args: []string{"profile", "frob"}, wantErr: `unknown command "frob" for "wwctl profile"`},
		{args: []string{"configure", "frob"}, wantErr: `unknown command "frob" for "wwctl configure"`},
		{args: []string{"image", "frob"}, wantErr: `unknown command "frob" for "wwctl image"`},
		{args: []string{"overlay", "frob"}, wantErr: `unknown command "frob" for "wwctl overlay"`},
		{args: []string{"genconfig", "frob"}, wantErr: `unknown command "frob" for "wwctl genconfig"`},
		{args: []string{"completion", "frob"}, wantErr: `unknown command "frob" for "wwctl completion"`},
		{args: []string{"frob"}, wantErr: `unknown command "frob" for "wwctl"`},
		{args: []string{"node"}, wantOut: "Usage:"},
		{args: []string{"profile"}, wantOut: "Available Commands:"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			tr := newTree(t, "")
			out, _, err := tr.run("", tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
		})
	}
}
