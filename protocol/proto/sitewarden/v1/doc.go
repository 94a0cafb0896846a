// Package sitewardenv1 holds the generated Go types of Sitewarden's wire
// protocol version 1 (the .proto files beside this file; sync.proto holds
// the compatibility rules). Regenerate with 'make generate'; never edit the
// .pb.go files by hand.
package sitewardenv1
