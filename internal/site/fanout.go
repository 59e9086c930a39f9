package site

import (
	"context"
	"sync"

	"github.com/wwboot/wwboot/internal/inventory"
)

// mergedNodes returns the merged nodes the hostlist patterns name, in
// natural order; every name must be a node.
func (s *Site) mergedNodes(patterns []string) ([]*inventory.Merged, error) {
	inv, err := s.nodes.Load()
	if err != nil {
		return nil, err
	}
	names, err := NodeKind.Select(inv, patterns, false)
	if err != nil {
		return nil, err
	}
	return inv.MergeNodes(names, false)
}

// fanOut calls do(i) for every i below n, at most width (at least 1) at
// once, and returns when all calls have. An i not started when ctx ends
// gets notStarted(i, ctx.Err()) instead.
func fanOut(ctx context.Context, n, width int, do func(i int), notStarted func(i int, err error)) {
	slots := make(chan struct{}, max(width, 1))
	var wg sync.WaitGroup
	for i := range n {
		taken := false
		select {
		case slots <- struct{}{}:
			taken = true
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			if taken {
				<-slots
			}
			notStarted(i, err)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			do(i)
		})
	}
	wg.Wait()
}
