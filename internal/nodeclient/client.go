package nodeclient

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
)

// SourcePortDialer dials from port (0: an ephemeral one). A fixed port
// is bound with SO_REUSEADDR, as it is reused for connection after
// connection and a previous one would otherwise block the bind.
func SourcePortDialer(port int, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if port <= 0 {
		return d
	}
	d.LocalAddr = &net.TCPAddr{Port: port}
	d.Control = func(network, address string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		}); err != nil {
			return err
		}
		return serr
	}
	return d
}

// CheckSHA256 checks a whole body against the daemon's sha256 (the
// X-Checksum-Sha256 header, any case); with none, nothing is checked.
func CheckSHA256(body []byte, want string) error {
	if want == "" {
		return nil
	}
	sum := sha256.Sum256(body)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, want) {
		return fmt.Errorf("%w: got %s, the daemon gave %s", ErrChecksum, got, want)
	}
	return nil
}
