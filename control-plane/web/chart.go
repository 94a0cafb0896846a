package web

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// Charts are SVG drawn on the server: no script, every label escaped.

// barChart is a stacked bar chart: one bar per key, one segment per
// status (drawn in the order of statuses, styled by class s-<status>).
type barChart struct {
	Keys     []string
	Statuses []string
	Counts   map[string]map[string]int // key → status → count
}

const (
	chartW, chartH           = 720, 220
	padL, padR, padT, padB   = 44, 10, 10, 46
	maxLabelLen, maxBarCount = 24, 400
)

func esc(s string) string {
	if len(s) > maxLabelLen {
		s = s[:maxLabelLen] + "…"
	}
	return template.HTMLEscapeString(s)
}

// svg renders the chart; title is its accessible name.
func (c barChart) svg(title string) template.HTML {
	keys := c.Keys
	if len(keys) > maxBarCount {
		keys = keys[len(keys)-maxBarCount:]
	}
	top := 0
	for _, k := range keys {
		sum := 0
		for _, n := range c.Counts[k] {
			sum += n
		}
		top = max(top, sum)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`, chartW, chartH, esc(title), template.HTMLEscapeString(title))
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	axisTop, step := countAxis(top)
	scale := float64(axisTop)
	for v := 0; v <= axisTop; v += step {
		y := float64(padT) + plotH - plotH*float64(v)/scale
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e6ea"/><text x="%d" y="%.1f" text-anchor="end">%d</text>`,
			padL, chartW-padR, y, y, padL-4, y+4, v)
	}
	if len(keys) > 0 {
		slot := plotW / float64(len(keys))
		bw := math.Max(1, slot*0.8)
		every := max(1, len(keys)/12)
		for i, k := range keys {
			x := float64(padL) + slot*float64(i) + (slot-bw)/2
			y := float64(padT) + plotH
			for _, st := range c.Statuses {
				n := c.Counts[k][st]
				if n == 0 {
					continue
				}
				h := plotH * float64(n) / scale
				y -= h
				fmt.Fprintf(&b, `<rect class="s-%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s %s: %d</title></rect>`,
					esc(st), x, y, bw, h, esc(k), esc(st), n)
			}
			if i%every == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-35 %.1f %d)">%s</text>`,
					x+bw/2, chartH-padB+14, x+bw/2, chartH-padB+14, esc(k))
			}
		}
	} else {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">no data yet</text>`, chartW/2, chartH/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: every interpolated string went through esc
}

// lineChart draws one series of ratios (0..1) over keys.
func lineChart(title string, keys []string, vals []float64) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s"><title>%s</title>`, chartW, chartH, esc(title), template.HTMLEscapeString(title))
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	for i := 0; i <= 4; i++ {
		y := float64(padT) + plotH - plotH*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e3e6ea"/><text x="%d" y="%.1f" text-anchor="end">%d%%</text>`,
			padL, chartW-padR, y, y, padL-4, y+4, i*25)
	}
	if len(keys) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">no data yet</text>`, chartW/2, chartH/2)
	} else {
		slot := plotW / float64(len(keys))
		var pts []string
		every := max(1, len(keys)/12)
		for i, k := range keys {
			x := float64(padL) + slot*(float64(i)+0.5)
			y := float64(padT) + plotH - plotH*math.Min(1, math.Max(0, vals[i]))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			fmt.Fprintf(&b, `<circle class="s-escalated" cx="%.1f" cy="%.1f" r="2.5"><title>%s: %.1f%%</title></circle>`, x, y, esc(k), vals[i]*100)
			if i%every == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end" transform="rotate(-35 %.1f %d)">%s</text>`, x, chartH-padB+14, x, chartH-padB+14, esc(k))
			}
		}
		fmt.Fprintf(&b, `<polyline class="s-line" points="%s"/>`, strings.Join(pts, " "))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // #nosec: every interpolated string went through esc
}

// countAxis returns the top of a count axis for a largest value of n and
// the step between its gridlines: the step is 1, 2 or 5 times a power of
// ten (never below 1: counts are whole), the smallest that needs at most 5
// intervals, and the top is the first multiple of it at or above n.
func countAxis(n int) (top, step int) {
	if n <= 0 {
		return 1, 1
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if s := m * p; (n+s-1)/s <= 5 {
				return (n + s - 1) / s * s, s
			}
		}
	}
}
