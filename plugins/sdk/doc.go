// Package sdk is the contract every Sitewarden action plugin implements and
// the plumbing that carries it: a plugin is a separate binary whose main is
// exactly
//
//	func main() { sdk.Serve(myPlugin{}) }
//
// Serve speaks hashicorp/go-plugin over gRPC only, behind a handshake with a
// long random magic cookie (HandshakeConfig), so a plugin binary started by
// hand refuses to run. The runner's plugin host (runner/pluginhost) starts
// the binary with an empty environment and mutual TLS and calls it through
// Client.
//
// Before Execute runs, the SDK validates Request.Params against the
// operation's ParamsSchema (a JSON Schema subset, see Schema); a plugin never
// sees parameters that do not match. Catalog checks a plugin's Info and a
// call's Result the same way on the host side.
//
// Info.Credentials declares the credential keys a plugin reads from its
// section of the runner's credentials file (CredentialSpec: names, one-line
// descriptions, required or optional; nil means not declared). Plugins read
// credentials with Credentials.Get, which RecordCredentialReads lets a test
// observe; sdktest.CheckCredentialDeclaration compares the two.
//
// Package sdktest runs a plugin in-process over an in-memory gRPC link, for
// plugin tests. docs/plugins.md explains how to write a plugin.
package sdk
