package harness

import (
	"context"
	"strings"
	"testing"
)

func TestPipelineReportsFailure(t *testing.T) {
	err := Pipeline(context.Background(), t.TempDir(), [][]string{{"sh", "-c", "echo broken >&2; exit 3"}, {"cat"}})
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Errorf("Pipeline = %v, want an error with the command's stderr", err)
	}
}

func TestMedianFloat(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{2.5}, 2.5},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 2, 8}, 3},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
