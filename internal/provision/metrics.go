package provision

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// metrics are the counters /metrics exposes, guarded by statusMu.
type metrics struct {
	requests map[[2]string]uint64 // stage, result -> count
	bytes    map[string]uint64    // stage -> body bytes sent
	// extra write the metrics of other servers of the daemon (AddMetrics).
	extra []func(io.Writer)
}

// AddMetrics has /metrics also answer what write writes, in the
// Prometheus text format: the counters of the daemon's other servers
// (DHCP, TFTP). write is called on every request and must be safe to
// call concurrently.
func (s *Server) AddMetrics(write func(io.Writer)) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	s.metrics.extra = append(s.metrics.extra, write)
}

// count adds one request of stage to the metrics: result "ok" unless sent
// is one of the failure marks. The caller holds statusMu.
func (s *Server) count(stage, sent string, bytes int64) {
	if s.metrics.requests == nil {
		s.metrics.requests = map[[2]string]uint64{}
		s.metrics.bytes = map[string]uint64{}
	}
	result := "ok"
	switch sent {
	case sentBadRequest, sentNotFound, sentBadAsset:
		result = strings.ToLower(sent)
	}
	s.metrics.requests[[2]string{stage, result}]++
	if bytes > 0 {
		s.metrics.bytes[stage] += uint64(bytes)
	}
}

// handleMetrics answers in the Prometheus text format: requests and bytes
// by stage, nodes by last stage, unknown hardware addresses, overlay
// builds.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	status := s.Status()
	byStage := map[string]int{}
	for _, st := range status {
		stage := st.Stage
		if stage == "" {
			stage = "NONE"
		}
		byStage[stage]++
	}
	var b strings.Builder
	s.statusMu.Lock()
	b.WriteString("# HELP wwboot_requests_total Provisioning requests by stage and result.\n# TYPE wwboot_requests_total counter\n")
	for _, k := range slices.SortedFunc(maps.Keys(s.metrics.requests), func(a, b [2]string) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	}) {
		fmt.Fprintf(&b, "wwboot_requests_total{stage=%q,result=%q} %d\n", k[0], k[1], s.metrics.requests[k])
	}
	b.WriteString("# HELP wwboot_sent_bytes_total Body bytes sent by stage.\n# TYPE wwboot_sent_bytes_total counter\n")
	for _, stage := range slices.Sorted(maps.Keys(s.metrics.bytes)) {
		fmt.Fprintf(&b, "wwboot_sent_bytes_total{stage=%q} %d\n", stage, s.metrics.bytes[stage])
	}
	unknown := len(s.unknown)
	extra := slices.Clone(s.metrics.extra)
	s.statusMu.Unlock()
	b.WriteString("# HELP wwboot_nodes Nodes of the inventory by the last stage served to them.\n# TYPE wwboot_nodes gauge\n")
	for _, stage := range slices.Sorted(maps.Keys(byStage)) {
		fmt.Fprintf(&b, "wwboot_nodes{stage=%q} %d\n", stage, byStage[stage])
	}
	fmt.Fprintf(&b, "# HELP wwboot_unknown_hwaddrs Hardware addresses that asked to boot and belong to no node.\n# TYPE wwboot_unknown_hwaddrs gauge\nwwboot_unknown_hwaddrs %d\n", unknown)
	builds, waits := s.o.Builder.Stats()
	fmt.Fprintf(&b, "# HELP wwboot_overlay_builds_total On-demand overlay builds run, and requests that waited for one.\n# TYPE wwboot_overlay_builds_total counter\nwwboot_overlay_builds_total %d\nwwboot_overlay_build_waits_total %d\n", builds, waits)
	for _, write := range extra {
		write(&b)
	}
	if l := s.conns.Load(); l != nil {
		open, closed := l.stats()
		fmt.Fprintf(&b, "# HELP wwboot_http_connections Open HTTP(S) connections.\n# TYPE wwboot_http_connections gauge\nwwboot_http_connections %d\n", open)
		b.WriteString("# HELP wwboot_http_connections_closed_total Connections the daemon closed to keep its limits, by reason.\n# TYPE wwboot_http_connections_closed_total counter\n")
		for _, reason := range []string{closedClientLimit, closedGlobalLimit, closedIdle} {
			fmt.Fprintf(&b, "wwboot_http_connections_closed_total{reason=%q} %d\n", reason, closed[reason])
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
