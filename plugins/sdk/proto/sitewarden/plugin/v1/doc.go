// Package pluginv1 holds the generated Go code for the plugin API
// (plugin.proto beside it). Regenerate with 'make generate'; never edit
// plugin.pb.go by hand. Plugins use package plugins/sdk, not this one.
package pluginv1
