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

// SchemasJSON maps each action of the plugins that ship with Sitewarden to
// its parameters' JSON Schema, as the plugins declare them (a test in e2e
// keeps it equal to the plugins). The policy compiler checks playbook and
// validation steps against it (policies.Config.ParamSchemas).
//
//go:embed schemas.json
var SchemasJSON []byte
