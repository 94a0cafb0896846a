package web

import (
	"fmt"
	"html/template"
	"time"
)

// funcs returns the template helpers.
func funcs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"day": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format(time.DateOnly)
		},
		"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", v*100) },
		"add": func(a, b int) int { return a + b },
		// sitepath links a site's page.
		"sitepath": sitePath,
	}
}
