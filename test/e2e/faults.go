package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// bytesSentRE finds the bytes a TCP socket has sent in "ss -i" output.
var bytesSentRE = regexp.MustCompile(`bytes_sent:(\d+)`)

// daemonConns returns the bytes each established connection of the
// daemon to peer has sent so far, by the peer's port.
func (n *Netns) daemonConns(ctx context.Context, peer string) (map[string]int64, error) {
	// The daemon listens on [::]: its IPv4 peers are v4-mapped, which
	// ss's address filters do not match, so peers are picked here.
	out, err := n.Command(ctx, "ss", "-Htni", "state", "established", "( sport = :"+strconv.Itoa(DaemonPort)+" )").Output()
	if err != nil {
		return nil, fmt.Errorf("ss in %s: %w", n.Name, err)
	}
	conns := map[string]int64{}
	port := ""
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" {
			continue
		}
		if l[0] != ' ' && l[0] != '\t' {
			f := strings.Fields(l)
			port = ""
			if host, p, err := net.SplitHostPort(f[len(f)-1]); err == nil && strings.TrimPrefix(host, "::ffff:") == peer {
				port = p
				conns[port] = 0
			}
			continue
		}
		if m := bytesSentRE.FindStringSubmatch(l); m != nil && port != "" {
			conns[port], _ = strconv.ParseInt(m[1], 10, 64)
		}
	}
	return conns, nil
}

// CutTransfer waits until a connection of the daemon to peer has sent
// more than after bytes since CutTransfer was called, then resets it
// (ss -K, as a failing switch or a restarted daemon would). The client
// sees the connection break mid-body.
func (n *Netns) CutTransfer(ctx context.Context, peer string, after int64) error {
	base, err := n.daemonConns(ctx, peer)
	if err != nil {
		return err
	}
	for {
		conns, err := n.daemonConns(ctx, peer)
		if err != nil {
			return err
		}
		for port, sent := range conns {
			if sent-base[port] <= after {
				continue
			}
			filter := "( sport = :" + strconv.Itoa(DaemonPort) + " and dport = :" + port + " )"
			if out, err := n.Command(ctx, "ss", "-HK", "state", "established", filter).CombinedOutput(); err != nil {
				return fmt.Errorf("ss -K in %s: %w: %s", n.Name, err, out)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no connection to %s sent more than %d bytes: %w", peer, after, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CorruptFile flips one byte at offset off of path (negative: from the
// end) and returns a function that restores it. The file keeps its size
// and modification time, so the daemon's caches do not see the change:
// it serves the damaged bytes with the sha256 of the good ones, as after
// a disk or memory error.
func CorruptFile(path string, off int64) (restore func() error, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if off < 0 {
		off += st.Size()
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("corrupt %s at %d: %w", path, off, err)
	}
	flip := func() error {
		b[0] ^= 0xff
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(b, off); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Chtimes(path, st.ModTime(), st.ModTime())
	}
	if err := flip(); err != nil {
		return nil, fmt.Errorf("corrupt %s: %w", path, err)
	}
	return flip, nil
}
