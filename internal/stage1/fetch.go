package stage1

import (
	"net/http"
	"time"

	"github.com/wwboot/wwboot/internal/nodeclient"
)

// Stage one downloads with nodeclient's client, the one wwclient shares;
// these names keep its callers' spelling.
type (
	// Fetcher downloads artifacts from the daemon.
	Fetcher = nodeclient.Fetcher
	// Download is one artifact's body as it arrives.
	Download = nodeclient.Download
)

// ErrChecksum marks an artifact whose bytes do not match the sha256 the
// daemon gave for it.
var ErrChecksum = nodeclient.ErrChecksum

// NewClient is nodeclient.NewClient: stall timeout, privileged source
// ports when privileged.
func NewClient(stall time.Duration, privileged bool) *http.Client {
	return nodeclient.NewClient(stall, privileged)
}
