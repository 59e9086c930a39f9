package overlay

import (
	"context"
	"fmt"
)

// On-demand builds. A boot storm after a change asks for many stale
// images at once. Each image is built at most once at a time (callers
// asking for one being built wait for that build), and the images asked
// for while builds run are built together by the next build: one
// rendering with shared renderers, one flush to disk, as a full build
// would, instead of one build per node. At most OnDemandBuilds builds run
// at once, each with Workers workers; builds of other nodes, in this
// process or another, do not wait for them (each node is locked alone).

// defaultOnDemandBuilds is OnDemandBuilds when unset.
const defaultOnDemandBuilds = 2

// flight is one image's on-demand build.
type flight struct {
	snap *Snapshot
	node string
	kind ImageKind
	done chan struct{}
	err  error
}

// buildOnDemand builds node's image of kind k from snap, unless a build of
// it is under way or waiting, in which case it waits for that one and
// returns its error.
func (b *Builder) buildOnDemand(ctx context.Context, snap *Snapshot, node string, k ImageKind) error {
	key := node + "\x00" + string(k)
	b.mu.Lock()
	if b.flights == nil {
		b.flights = map[string]*flight{}
	}
	f, ok := b.flights[key]
	if ok {
		b.waits.Add(1)
	} else {
		f = &flight{snap: snap, node: node, kind: k, done: make(chan struct{})}
		b.flights[key] = f
		b.pending = append(b.pending, f)
		b.builds.Add(1)
		limit := b.OnDemandBuilds
		if limit <= 0 {
			limit = defaultOnDemandBuilds
		}
		if b.running < limit {
			b.running++
			// The build serves every caller that joins it: a caller
			// that gives up does not stop it.
			go b.buildPending(context.WithoutCancel(ctx))
		}
	}
	b.mu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// buildPending builds what is pending, in batches of one snapshot and
// kind, until nothing is.
func (b *Builder) buildPending(ctx context.Context) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		first := b.pending[0]
		var batch, rest []*flight
		for _, f := range b.pending {
			if f.snap == first.snap && f.kind == first.kind {
				batch = append(batch, f)
			} else {
				rest = append(rest, f)
			}
		}
		b.pending = rest
		b.mu.Unlock()

		names := make([]string, len(batch))
		for i, f := range batch {
			names[i] = f.node
		}
		res, err := b.Build(ctx, first.snap, names, []ImageKind{first.kind}, false, nil)
		errs := map[string]error{}
		for _, r := range res {
			errs[r.Node] = r.Err
		}
		b.mu.Lock()
		for _, f := range batch {
			switch e, ok := errs[f.node]; {
			case err != nil:
				f.err = err
			case !ok:
				f.err = fmt.Errorf("node %q %s overlay: not built", f.node, f.kind)
			default:
				f.err = e
			}
			delete(b.flights, f.node+"\x00"+string(f.kind))
			close(f.done)
		}
		b.mu.Unlock()
	}
}

// Stats returns how many images Artifact built on demand and how many
// callers waited for a build of the same image instead.
func (b *Builder) Stats() (builds, waits int64) { return b.builds.Load(), b.waits.Load() }
