package web

import (
	"strings"
	"testing"
)

// TestChartsEscapeLabels checks a workflow or client name cannot inject
// markup into the server-drawn SVG.
func TestChartsEscapeLabels(t *testing.T) {
	evil := `<script>alert(1)</script>"`
	c := barChart{Keys: []string{evil}, Statuses: []string{"resolved", evil}, Counts: map[string]map[string]int{evil: {"resolved": 3, evil: 1}}}
	for _, svg := range []string{string(c.svg(evil)), string(lineChart(evil, []string{evil}, []float64{0.5}))} {
		if strings.Contains(svg, "<script") || strings.Contains(svg, `""`) {
			t.Errorf("label not escaped: %s", svg)
		}
		if !strings.HasPrefix(svg, "<svg") || !strings.HasSuffix(svg, "</svg>") {
			t.Errorf("not one svg element: %s", svg)
		}
	}
	if empty := string(barChart{}.svg("x")); !strings.Contains(empty, "no data yet") {
		t.Errorf("empty chart: %s", empty)
	}
	if niceMax(7) != 10 || niceMax(120) != 200 || niceMax(0) != 1 {
		t.Errorf("niceMax: %v %v %v", niceMax(7), niceMax(120), niceMax(0))
	}
}
