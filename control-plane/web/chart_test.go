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
}

// TestCountAxis: gridlines of a count chart fall on whole numbers, at most 5
// intervals, with the top at or just above the largest bar.
func TestCountAxis(t *testing.T) {
	for _, c := range []struct{ n, top, step int }{
		{0, 1, 1}, {1, 1, 1}, {3, 3, 1}, {5, 5, 1}, {6, 6, 2}, {7, 8, 2}, {11, 15, 5},
		{25, 25, 5}, {26, 30, 10}, {120, 150, 50}, {999, 1000, 200}, {100000, 100000, 20000},
	} {
		if top, step := countAxis(c.n); top != c.top || step != c.step {
			t.Errorf("countAxis(%d) = %d, %d; want %d, %d", c.n, top, step, c.top, c.step)
		}
	}
	svg := string(barChart{Keys: []string{"d"}, Statuses: []string{"resolved"}, Counts: map[string]map[string]int{"d": {"resolved": 3}}}.svg("x"))
	for _, want := range []string{">0</text>", ">1</text>", ">2</text>", ">3</text>"} {
		if !strings.Contains(svg, want) {
			t.Errorf("axis of a 3-goal chart lacks %s: %s", want, svg)
		}
	}
	if strings.Contains(svg, ".5</text>") || strings.Contains(svg, ">4</text>") {
		t.Errorf("fractional or surplus gridline: %s", svg)
	}
}
