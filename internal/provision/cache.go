package provision

import "time"

// checkedTTL is how long an image's list of kernels (plan.go) is trusted
// within one load of the inventory. A change to nodes.conf makes a new
// load, which starts afresh; what the TTL bounds is how late the daemon
// notices a rebuilt image. (The overlay images' checks are
// overlay.Archives'.)
const checkedTTL = 5 * time.Second

// checked is a value found at a time.
type checked[T any] struct {
	v  T
	at time.Time
}
