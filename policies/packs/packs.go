// Package packs embeds the reference policy packs (scope files and their
// policy tests) so that a running control plane can test a proposed scope
// change against the packs' tests without the source tree.
package packs

import "embed"

// FS holds every *.yaml file of this directory: the packs and their
// *_test.yaml policy tests.
//
//go:embed *.yaml
var FS embed.FS
