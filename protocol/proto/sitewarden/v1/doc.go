// Package sitewardenv1 holds the generated Go types of Sitewarden's wire
// protocol version 1 (sync.proto beside this file). Regenerate with
// 'make generate'; never edit sync.pb.go by hand.
package sitewardenv1
