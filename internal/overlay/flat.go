package overlay

import (
	"text/template"
	"text/template/parse"
)

// flatData is what most templates execute with instead of Data: the same
// top-level names with the same values, but the node's fields are fields
// of their own rather than promoted from the embedded Node and Profile,
// and it is passed by pointer. text/template looks a field up by name
// with reflect; on Data every lookup of a name that is not Data's own
// goes through reflect's search of embedded structs (FieldByNameFunc,
// which allocates), and Execute boxes a copy of the whole struct for
// every template. flatData has no methods and holds no struct with
// pointer methods, so passing it by pointer makes no method reachable
// that Data passed by value hides.
//
// A template that could see the data as a whole (bare . or $ at the top
// level, such as {{toJson .}}), or that names a top-level field flatData
// lacks (.Node, .Profile, a misspelling whose error message names the
// type), executes with Data as before: flatOK decides.
type flatData struct {
	Id            string
	Hostname      string
	BuildHost     string
	BuildTime     string
	BuildTimeUnix string
	BuildSource   string
	Overlay       string

	Ipaddr       string
	IpCIDR       string
	Netmask      string
	Network      string
	NetworkCIDR  string
	Ipaddr6      string
	PrefixLen6   string
	IpCIDR6      string
	Network6     string
	NetworkCIDR6 string
	Ipv6         bool

	Dhcp     DhcpConf
	Nfs      NfsConf
	Ssh      SshConf
	Warewulf WarewulfConf
	Wwclient WwclientConf
	Tftp     TftpConf
	Paths    PathsConf

	AllNodes []Node
	ThisNode *Node

	Container     string
	ContainerName string

	// Node's fields.
	Discoverable WWbool
	AssetKey     string

	// Profile's fields.
	Profiles       []string
	Comment        string
	ClusterName    string
	ImageName      string
	Ipxe           string
	RuntimeOverlay []string
	SystemOverlay  []string
	Kernel         *KernelConf
	Ipmi           *IpmiConf
	Init           string
	Root           string
	NetDevs        map[string]*NetDev
	Tags           map[string]string
	PrimaryNetDev  string
	Disks          map[string]*Disk
	FileSystems    map[string]*FileSystem
	Resources      map[string]any
}

// flatten returns d's flat view. TestFlatDataHasDataNames keeps the two
// types' names and field types in step.
func flatten(d *Data) *flatData {
	p := &d.Profile
	return &flatData{
		Id: d.Id, Hostname: d.Hostname, BuildHost: d.BuildHost, BuildTime: d.BuildTime, BuildTimeUnix: d.BuildTimeUnix,
		BuildSource: d.BuildSource, Overlay: d.Overlay,
		Ipaddr: d.Ipaddr, IpCIDR: d.IpCIDR, Netmask: d.Netmask, Network: d.Network, NetworkCIDR: d.NetworkCIDR,
		Ipaddr6: d.Ipaddr6, PrefixLen6: d.PrefixLen6, IpCIDR6: d.IpCIDR6, Network6: d.Network6, NetworkCIDR6: d.NetworkCIDR6,
		Ipv6: d.Ipv6,
		Dhcp: d.Dhcp, Nfs: d.Nfs, Ssh: d.Ssh, Warewulf: d.Warewulf, Wwclient: d.Wwclient, Tftp: d.Tftp, Paths: d.Paths,
		AllNodes: d.AllNodes, ThisNode: d.ThisNode,
		Container: d.Container, ContainerName: d.ContainerName,
		Discoverable: d.Discoverable, AssetKey: d.AssetKey,
		Profiles: p.Profiles, Comment: p.Comment, ClusterName: p.ClusterName, ImageName: p.ImageName, Ipxe: p.Ipxe,
		RuntimeOverlay: p.RuntimeOverlay, SystemOverlay: p.SystemOverlay, Kernel: p.Kernel, Ipmi: p.Ipmi,
		Init: p.Init, Root: p.Root, NetDevs: p.NetDevs, Tags: p.Tags, PrimaryNetDev: p.PrimaryNetDev,
		Disks: p.Disks, FileSystems: p.FileSystems, Resources: p.Resources,
	}
}

// flatNames are flatData's field names, the top-level names a template
// executing with it may use.
var flatNames = map[string]bool{
	"Id": true, "Hostname": true, "BuildHost": true, "BuildTime": true, "BuildTimeUnix": true, "BuildSource": true,
	"Overlay": true, "Ipaddr": true, "IpCIDR": true, "Netmask": true, "Network": true, "NetworkCIDR": true,
	"Ipaddr6": true, "PrefixLen6": true, "IpCIDR6": true, "Network6": true, "NetworkCIDR6": true, "Ipv6": true,
	"Dhcp": true, "Nfs": true, "Ssh": true, "Warewulf": true, "Wwclient": true, "Tftp": true, "Paths": true,
	"AllNodes": true, "ThisNode": true, "Container": true, "ContainerName": true, "Discoverable": true, "AssetKey": true,
	"Profiles": true, "Comment": true, "ClusterName": true, "ImageName": true, "Ipxe": true, "RuntimeOverlay": true,
	"SystemOverlay": true, "Kernel": true, "Ipmi": true, "Init": true, "Root": true, "NetDevs": true, "Tags": true,
	"PrimaryNetDev": true, "Disks": true, "FileSystems": true, "Resources": true,
}

// flatOK reports whether t renders the same with flatData as with Data:
// wherever dot (or $) is the top-level data, it is only used to name one
// of flatData's fields, or passed whole to a defined template that is
// then checked the same way. Like sameForEveryNode it is conservative: a
// template it cannot follow executes with Data.
func flatOK(t *template.Template) bool {
	c := flatCheck{root: map[string]bool{t.Name(): true}}
	// A template called with the top-level data makes its callees' calls
	// count too: check until no new template gets it.
	for checked := map[string]bool{}; ; {
		more := false
		for name := range c.root {
			if checked[name] {
				continue
			}
			checked[name], more = true, true
			tt := t.Lookup(name)
			if tt == nil || tt.Tree == nil {
				continue
			}
			if !c.list(tt.Tree.Root, true, true) {
				return false
			}
		}
		if !more {
			break
		}
	}
	// The others get another value as their dot (and $), never the
	// top-level data: a variable never holds it, as no pipeline may
	// yield it whole.
	for _, tt := range t.Templates() {
		if c.root[tt.Name()] || tt.Tree == nil {
			continue
		}
		if !c.list(tt.Tree.Root, false, false) {
			return false
		}
	}
	return true
}

// flatCheck walks a template's parse trees; top says whether dot is the
// top-level data, dollar whether $ is.
type flatCheck struct {
	// root names the templates executed with the top-level data.
	root map[string]bool
}

func (c *flatCheck) list(l *parse.ListNode, top, dollar bool) bool {
	if l == nil {
		return true
	}
	for _, n := range l.Nodes {
		if !c.node(n, top, dollar) {
			return false
		}
	}
	return true
}

func (c *flatCheck) node(n parse.Node, top, dollar bool) bool {
	switch n := n.(type) {
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return true
	case *parse.ActionNode:
		return c.pipe(n.Pipe, top, dollar)
	case *parse.IfNode:
		return c.pipe(n.Pipe, top, dollar) && c.list(n.List, top, dollar) && c.list(n.ElseList, top, dollar)
	case *parse.RangeNode:
		return c.pipe(n.Pipe, top, dollar) && c.list(n.List, false, dollar) && c.list(n.ElseList, top, dollar)
	case *parse.WithNode:
		return c.pipe(n.Pipe, top, dollar) && c.list(n.List, false, dollar) && c.list(n.ElseList, top, dollar)
	case *parse.TemplateNode:
		if isWhole(n.Pipe, top, dollar) {
			c.root[n.Name] = true
			return true
		}
		return c.pipe(n.Pipe, top, dollar)
	}
	return false
}

// isWhole reports whether p is just the top-level data: . or $.
func isWhole(p *parse.PipeNode, top, dollar bool) bool {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.DotNode:
		return top
	case *parse.VariableNode:
		return dollar && len(a.Ident) == 1 && a.Ident[0] == "$"
	}
	return false
}

func (c *flatCheck) pipe(p *parse.PipeNode, top, dollar bool) bool {
	if p == nil {
		return true
	}
	for _, cmd := range p.Cmds {
		for _, arg := range cmd.Args {
			if !c.arg(arg, top, dollar) {
				return false
			}
		}
	}
	return true
}

func (c *flatCheck) arg(n parse.Node, top, dollar bool) bool {
	switch n := n.(type) {
	case *parse.DotNode:
		return !top
	case *parse.FieldNode:
		return !top || flatNames[n.Ident[0]]
	case *parse.VariableNode:
		if n.Ident[0] == "$" {
			return !dollar || len(n.Ident) > 1 && flatNames[n.Ident[1]]
		}
		return true
	case *parse.ChainNode:
		return c.arg(n.Node, top, dollar)
	case *parse.PipeNode:
		return c.pipe(n, top, dollar)
	case *parse.IdentifierNode, *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		return true
	}
	return false
}
