package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wwboot/wwboot/internal/config"
)

// stormResult is the boot storm row.
type stormResult struct {
	nodes, answered int
	wall, build     time.Duration
}

// bootStorm measures a boot storm after a change: the system overlay
// template every node renders is edited, so every image is stale. First
// "wwctl overlay build" of the storm's nodes is timed after one edit (the
// reference); then, after another, once the daemon has reloaded, every
// node asks for its system overlay at once.
func (b *bench) bootStorm(ctx context.Context) (*stormResult, error) {
	cfg, _, err := config.Load(b.conf)
	if err != nil {
		return nil, err
	}
	tmpl := filepath.Join(cfg.Paths.Wwoverlaydir, "benchsys", "rootfs", "etc", "hostname.ww")
	n := b.o.stormNodes
	res := &stormResult{nodes: n}
	names := fmt.Sprintf("n[00001-%05d]", n)

	if err := os.WriteFile(tmpl, []byte("{{.Id}} (reference)\n"), 0o644); err != nil {
		return nil, err
	}
	start := time.Now()
	if out, err := exec.CommandContext(ctx, b.o.wwctl, "--warewulfconf", b.conf, "overlay", "build", names).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wwctl overlay build %s: %w\n%s", names, err, out)
	}
	res.build = time.Since(start)

	// The daemon notices a change of the overlays or nodes.conf within
	// 2 s: a node added after the edit is known once it has reloaded
	// both.
	if err := os.WriteFile(tmpl, []byte("{{.Id}} (storm)\n"), 0o644); err != nil {
		return nil, err
	}
	const sentinel = "02:ff:00:00:00:01"
	f, err := os.OpenFile(cfg.NodesConf(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = fmt.Fprintf(f, "  zstorm:\n    profiles:\n      - default\n    network devices:\n      default:\n        hwaddr: %q\n", sentinel)
	if err = errors.Join(err, f.Close()); err != nil {
		return nil, err
	}
	if _, err := b.daemon.waitFor(ctx, "/kernel/"+sentinel, 30*time.Second); err != nil {
		return nil, fmt.Errorf("the daemon did not reload after a change: %w", err)
	}

	var answered atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i, mac := range b.macs[:n] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each node from its own address: the daemon limits
			// connections per client address.
			local := &net.TCPAddr{IP: net.IPv4(127, 1, byte(i/250), byte(i%250+1))}
			client := &http.Client{Transport: &http.Transport{
				DialContext:       (&net.Dialer{LocalAddr: local}).DialContext,
				DisableKeepAlives: true,
			}, Timeout: 5 * time.Minute}
			<-ready
			err := func() error {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.daemon.addr+"/system/"+mac, nil)
				if err != nil {
					return err
				}
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
				}
				if !bytes.Contains(body, []byte("(storm)")) {
					return errors.New("the overlay sent is not the one rebuilt after the change")
				}
				return nil
			}()
			if err != nil {
				mu.Lock()
				if b.failures == 0 {
					b.firstFailure = fmt.Sprintf("boot storm: GET /system/%s: %v", mac, err)
				}
				b.failures++
				mu.Unlock()
				return
			}
			answered.Add(1)
		}()
	}
	start = time.Now()
	close(ready)
	wg.Wait()
	res.wall = time.Since(start)
	res.answered = int(answered.Load())
	return res, nil
}
