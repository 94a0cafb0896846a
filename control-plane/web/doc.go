// Package web is the supervisors' web UI: server-rendered html/template
// pages with htmx, templates and static assets embedded (no Node to build
// or run). It is mounted at / beside the JSON API (/api/) by
// control-plane/cli/apiserver.go and shares the API's sessions (the
// sw_session cookie) and, through the Actions interface, every state
// change the API makes, with the same permission checks. docs/ui.md
// describes the pages.
//
// # Security
//
// Every answer carries a Content-Security-Policy allowing only this origin
// (no inline scripts or styles; htmx and static/app.js are files). Every
// form carries the session's CSRF token in a hidden "csrf" field (htmx
// requests send it in X-CSRF-Token from the body's hx-headers); login and
// setup, which precede a session, use a double-submit cookie. Client
// viewers see only their client: each handler narrows its queries with
// clientFilter and every detail page checks auth.Principal.CanSeeClient
// (through the shared Actions, which check again).
//
// # How to add a page
//
// One Go file, one template, a nav entry and a row in the role/page test:
//
//  1. A Go file, e.g. samples.go, with a method returning its routes, each
//     a Page with its permission; a handler is func(w, r, p auth.Principal)
//     error. It reads with s.d.Store or s.d.Actions (narrowing lists with
//     clientFilter), then calls s.render(w, r, p, "samples", "Samples",
//     data) for a page or s.redirect(w, r, "/samples/...", "graded") after
//     a POST (r.PostForm is parsed and the CSRF token checked already).
//     Returned errors become error pages with their status (API errors keep
//     theirs, store.ErrNotFound is 404, badInput is 400).
//  2. A template, templates/samples.html, defining "content"; the layout
//     adds the navigation. Forms post to the page's patterns and carry
//     <input type="hidden" name="csrf" value="{{$.CSRF}}">.
//  3. A nav entry: set Nav on the GET route (shown to the roles holding its
//     Perm), and add the method to Server.Pages (pages.go) so it is served.
//  4. A row per route in TestEveryPageEveryRole's table (pages_test.go); a
//     route without a row fails the test.
//
// For example:
//
//	func (s *Server) samplePages() []Page {
//		return []Page{
//			{Method: "GET", Pattern: "/samples", Perm: auth.PermRead, Nav: "Samples", h: s.samples},
//			{Method: "POST", Pattern: "/samples/{client}/{id}/grade", Perm: auth.PermSamplesGrade, h: s.gradeSample},
//		}
//	}
package web
