package site

import "path/filepath"

// Every path derived from the configuration is here, so that a front end
// never joins paths of its own and a relocated installation (the paths:
// section of warewulf.conf) moves as one.

// ConfDir is <sysconfdir>/warewulf, where warewulf.conf lives.
func (s *Site) ConfDir() string { return s.cfg.ConfDir() }

// NodesConf is the inventory, <sysconfdir>/warewulf/nodes.conf.
func (s *Site) NodesConf() string { return s.cfg.NodesConf() }

// AuthConf keeps the REST API's users: auth.conf beside warewulf.conf.
func (s *Site) AuthConf() string { return filepath.Join(s.ConfDir(), "auth.conf") }

// BootstrapConf selects what two-stage boot's bootstrap takes from an
// image.
func (s *Site) BootstrapConf() string { return filepath.Join(s.ConfDir(), "bootstrap.conf") }

// KeysDir holds the site's SSH keys (and the nodes' under nodes/NAME).
func (s *Site) KeysDir() string { return filepath.Join(s.ConfDir(), "keys") }

// NodeKeysDir holds one node's own SSH host keys.
func (s *Site) NodeKeysDir(node string) string { return filepath.Join(s.KeysDir(), "nodes", node) }

// TLSKey and TLSCert are the daemon's HTTPS key and certificate, where
// Warewulf keeps them.
func (s *Site) TLSKey() string { return filepath.Join(s.ConfDir(), "tls", "warewulf.key") }

// TLSCert is the daemon's HTTPS certificate.
func (s *Site) TLSCert() string { return filepath.Join(s.ConfDir(), "tls", "warewulf.crt") }

// IpxeTemplateDir holds the site's iPXE templates.
func (s *Site) IpxeTemplateDir() string { return filepath.Join(s.ConfDir(), "ipxe") }

// GrubTemplateDir holds the site's GRUB template, grub.cfg.ww.
func (s *Site) GrubTemplateDir() string { return filepath.Join(s.ConfDir(), "grub") }

// HostRoot is the server's root directory (paths.hostroot, "/"), under
// which the host overlay's files and the server's own databases are.
func (s *Site) HostRoot() string { return s.cfg.Paths.Hostroot }

// HostEtc is the server's /etc, where the host overlay's etc/ files land,
// whatever paths.sysconfdir is (as in Warewulf).
func (s *Site) HostEtc() string { return filepath.Join(s.HostRoot(), "etc") }

// KnownHosts is the server's system-wide ssh_known_hosts.
func (s *Site) KnownHosts() string {
	return filepath.Join(s.HostEtc(), "ssh", "ssh_known_hosts")
}

// HostPasswd and HostGroup are the server's user and group databases,
// which "image syncuser" matches an image's ids to.
func (s *Site) HostPasswd() string { return filepath.Join(s.HostEtc(), "passwd") }

// HostGroup is the server's group database.
func (s *Site) HostGroup() string { return filepath.Join(s.HostEtc(), "group") }

// HostExports is the server's NFS exports file.
func (s *Site) HostExports() string { return filepath.Join(s.HostEtc(), "exports") }

// StateDir is <localstatedir>/warewulf, the daemon's state.
func (s *Site) StateDir() string { return filepath.Join(s.cfg.Paths.Localstatedir, "warewulf") }

// TokenKey is the key the daemon signs node tokens with.
func (s *Site) TokenKey() string { return filepath.Join(s.StateDir(), "token.key") }

// StatusFile keeps the nodes' provisioning status across restarts.
func (s *Site) StatusFile() string { return filepath.Join(s.StateDir(), "status.json") }

// LeaseFile keeps the embedded DHCP server's leases.
func (s *Site) LeaseFile() string { return filepath.Join(s.StateDir(), "dhcp.leases") }

// OverlayImageDir holds the built overlay images, one directory a node.
func (s *Site) OverlayImageDir() string { return filepath.Join(s.cfg.Paths.Wwprovisiondir, "overlays") }

// CacheDir is where image imports cache what they download.
func (s *Site) CacheDir() string { return s.cfg.Paths.Cachedir }

// IpxeSource is where the iPXE binaries are looked for first.
func (s *Site) IpxeSource() string { return s.cfg.Paths.Ipxesource }
