package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/site"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/sandbox"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMain lets tests run this test binary as wwctl in another process
// (for the concurrency and crash tests): with WWCTL_TEST_MAIN=1 it is
// wwctl.
func TestMain(m *testing.M) {
	// image exec re-runs this binary as the sandbox's child.
	if sandbox.Child() {
		return
	}
	if os.Getenv("WWCTL_TEST_MAIN") == "1" {
		err := Run(context.Background(), os.Args[1:], Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
		if err != nil {
			os.Stderr.WriteString("wwctl: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tree is a throwaway installation: warewulf.conf relocating every path
// into a temporary directory, and optionally a nodes.conf.
type tree struct {
	t     *testing.T
	root  string
	conf  string
	nodes string
	env   map[string]string
}

func newTree(t *testing.T, nodesConf string) *tree {
	t.Helper()
	// No ipaddr: commands that need one say so.
	in := sitetest.New(t, "# wwctl's tests\n")
	root := in.Root
	tr := &tree{t: t, root: root, conf: in.ConfPath, nodes: in.Config.NodesConf(), env: map[string]string{}}
	// The wwclient overlay carries this file as the node agent; these
	// tests never run it.
	tr.env["WWCLIENT"] = filepath.Join(root, "wwclient")
	// configure ssh makes the user's key in $HOME/.ssh: never the real one.
	tr.env["HOME"] = filepath.Join(root, "home")
	if err := os.WriteFile(tr.env["WWCLIENT"], []byte("#!/bin/sh\necho test stand-in for wwclient\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if nodesConf != "" {
		data, err := os.ReadFile(nodesConf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(tr.nodes), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tr.nodes, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// appendConf adds text to the tree's warewulf.conf.
func (tr *tree) appendConf(text string) {
	tr.t.Helper()
	f, err := os.OpenFile(tr.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		tr.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		tr.t.Fatal(err)
	}
}

// run runs wwctl in-process with stdin as given.
func (tr *tree) run(stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	env := Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return tr.env[k] },
		// No systemctl: these tests never start the machine's services.
		Commands: noSystemd{},
	}
	err = Run(context.Background(), append([]string{"--warewulfconf", tr.conf}, args...), env)
	return out.String(), errb.String(), err
}

func (tr *tree) mustRun(args ...string) string {
	tr.t.Helper()
	out, errOut, err := tr.run("", args...)
	if err != nil {
		tr.t.Fatalf("wwctl %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (tr *tree) nodesConf() string {
	tr.t.Helper()
	data, err := os.ReadFile(tr.nodes)
	if err != nil {
		tr.t.Fatal(err)
	}
	return string(data)
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// noSystemd runs programs but says systemd is not running, so that
// "configure" says what systemctl commands to run instead of running them.
type noSystemd struct{ site.ExecCommander }

func (noSystemd) Systemd() bool { return false }
