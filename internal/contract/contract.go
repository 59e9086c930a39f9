// Package contract is the agreement between the provisioning daemon and
// the programs that talk to it (iPXE, wwclient, stage one, wwctl, the
// DHCP server's boot URLs, the virtual cluster's harness): routes, query
// keys, headers, stage names and the status document. It holds names and
// formats only, so the node programs may import it and stay small.
package contract

import (
	"net/url"
	"strings"
)

// Routes of a node's artifacts: GET /<route>/<wwid>?<query>, where wwid
// is the node's hardware address (or, without one, the query's wwid, or
// the ARP table's entry for the client).
const (
	RouteIPXE = "ipxe"
	// RouteGrub is GRUB's per-node configuration (the grub.cfg GRUB reads
	// first configfiles it).
	RouteGrub      = "grub"
	RouteKernel    = "kernel"
	RouteInitramfs = "initramfs"
	RouteImage     = "image"
	RouteSystem    = "system"
	RouteRuntime   = "runtime"
	// Aliases Warewulf's older releases use.
	RouteImageAlias   = "container"
	RouteSystemAlias  = "overlay-system"
	RouteRuntimeAlias = "overlay-runtime"
	// RouteProvision is Warewulf's older form: /provision/<wwid>?stage=<route>,
	// stage ipxe when the query has none.
	RouteProvision = "provision"
	// RouteEFIBoot serves UEFI HTTP boot's binaries: /efiboot/<file>.
	RouteEFIBoot = "efiboot"
)

// Paths of the daemon that are not per node.
const (
	PathStatus  = "/status"
	PathMetrics = "/metrics"
	PathAPI     = "/api/"
)

// Query keys of a node's requests.
const (
	QueryWWID     = "wwid"     // hardware address, when the path has none
	QueryAssetKey = "assetkey" // the node's asset key, when it has one
	QueryUUID     = "uuid"     // the machine's SMBIOS UUID (logged)
	QueryToken    = "token"    // node token of the iPXE script: proves the node
	QueryCompress = "compress" // gz, zstd or none
	QueryStage    = "stage"    // RouteProvision's artifact
	QueryOwn      = "own"      // initramfs: the image's own, not the bootstrap
)

// Kernel command line arguments (NAME=value) by which the iPXE script
// tells the node programs who they are and where the daemon is: wwclient
// reads ArgWWID, stage one of two-stage boot all of them.
const (
	ArgWWID     = "wwid"       // the boot interface's hardware address (wwclient: or "[iface]")
	ArgServer   = "wwserver"   // the daemon, scheme://host:port
	ArgToken    = "wwtoken"    // the node token (QueryToken of the requests)
	ArgAssetKey = "wwassetkey" // the asset key (QueryAssetKey)
	ArgUUID     = "wwuuid"     // the SMBIOS UUID (QueryUUID)
	ArgRoot     = "wwroot"     // initramfs, tmpfs, ramfs or a root device
	ArgCompress = "wwcompress" // gz or zst (QueryCompress)
)

// The bootstrap of two-stage boot, as wwctl builds it and stage one reads
// it: where the programs for the system overlay's wwinit.d scripts and
// their libraries are (paths inside the bootstrap, without the leading
// slash).
const (
	// BootstrapProgramDir holds the programs, under the names scripts
	// call them by; stage one's own udevadm is a link to /init there.
	BootstrapProgramDir = "usr/bin"
	// BootstrapLibDir holds their shared libraries: stage one runs the
	// scripts with LD_LIBRARY_PATH set to it.
	BootstrapLibDir = "lib/wwstage1"
)

// Headers of the daemon's answers.
const (
	// HeaderChecksum is the sha256 (hex) of the body as sent; a node
	// refuses a body that does not match.
	HeaderChecksum = "X-Checksum-Sha256"
	// HeaderWithheld says what an overlay left out because the request
	// did not prove it comes from the node (WithheldSecrets).
	HeaderWithheld = "X-Wwboot-Withheld"
	// HeaderVia is "tftp" on a request the TFTP server passes on for a
	// client that asked by TFTP (GRUB without HTTP).
	HeaderVia       = "X-Wwboot-Via"
	WithheldSecrets = "secret files"
)

// Stages as the status document reports them: what was served last.
const (
	StageDHCP      = "DHCP" // recorded by the embedded DHCP server
	StageIPXE      = "IPXE"
	StageGrub      = "GRUB"
	StageKernel    = "KERNEL"
	StageInitramfs = "INITRAMFS"
	StageImage     = "IMAGE"
	StageSystem    = "SYSTEM_OVERLAY"
	StageRuntime   = "RUNTIME_OVERLAY"
	StageEFIBoot   = "EFI" // shim, GRUB or iPXE by UEFI HTTP boot, or /efiboot/grub.cfg
)

// What the status document reports as sent when a request failed.
const (
	SentBadRequest = "BAD_REQUEST"
	SentNotFound   = "NOT_FOUND"
	SentBadAsset   = "BAD_ASSET"
)

// Failed reports whether sent is one of the failure marks.
func Failed(sent string) bool {
	switch sent {
	case SentBadRequest, SentNotFound, SentBadAsset:
		return true
	}
	return false
}

// RouteStages maps every artifact route, aliases included, to the stage
// its requests are recorded as.
func RouteStages() map[string]string {
	return map[string]string{
		RouteIPXE: StageIPXE, RouteGrub: StageGrub, RouteKernel: StageKernel, RouteInitramfs: StageInitramfs,
		RouteImage: StageImage, RouteImageAlias: StageImage,
		RouteSystem: StageSystem, RouteSystemAlias: StageSystem,
		RouteRuntime: StageRuntime, RouteRuntimeAlias: StageRuntime,
	}
}

// ArtifactURL is base (scheme://host:port) + /<route>/<wwid>?<query>;
// wwid is escaped as a path segment.
func ArtifactURL(base, route, wwid string, q url.Values) string {
	u := strings.TrimSuffix(base, "/") + "/" + route + "/" + url.PathEscape(wwid)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// IPXEScriptURL is the URL iPXE loads its script from, given the
// daemon's host:port: iPXE fills in the node's hardware address, asset
// key and UUID.
func IPXEScriptURL(authority string) string {
	return "http://" + authority + "/" + RouteIPXE + "/${mac:hexhyp}?" +
		QueryAssetKey + "=${asset}&" + QueryUUID + "=${uuid}"
}

// EFIBootURL is the URL of a UEFI HTTP boot binary on the daemon at
// host:port.
func EFIBootURL(authority, file string) string {
	return "http://" + authority + "/" + RouteEFIBoot + "/" + file
}

// GrubConfigURL is the configuration GRUB loads for a node, in GRUB's
// device syntax, given the daemon's host:port: GRUB fills in the boot
// interface's hardware address and the asset key read from SMBIOS.
func GrubConfigURL(authority string) string {
	return "(http," + authority + ")/" + RouteGrub + "/${net_default_mac}?" + QueryAssetKey + "=${assetkey}"
}
