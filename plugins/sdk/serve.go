package sdk

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// The handshake. A binary started without the cookie in its environment
// prints a hint and exits instead of serving; the cookie is a guard against
// running a plugin by accident, not a secret.
const (
	// MagicCookieKey is the environment variable that carries the cookie.
	MagicCookieKey = "SITEWARDEN_PLUGIN_COOKIE"
	// MagicCookieValue is 256 random bits, fixed for API version 1.
	MagicCookieValue = "a7074a6ac49cc495d7790fe37ee1ec30361596a70a7285078d5f1d3c046383a3"
	// PluginKey is the name under which the plugin is dispensed.
	PluginKey = "action"
)

// HandshakeConfig is the go-plugin handshake every Sitewarden plugin and
// host use: protocol version APIVersion and the magic cookie.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  APIVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// PluginSet is the go-plugin plugin set a host passes to its client: one
// gRPC plugin under PluginKey that dispenses a *Client.
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{PluginKey: &grpcPlugin{}}
}

// grpcPlugin is go-plugin's view of a Sitewarden plugin, gRPC only.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl Plugin // nil on the host side
}

var _ plugin.GRPCPlugin = (*grpcPlugin)(nil)

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	RegisterServer(s, g.impl)
	return nil
}

func (g *grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return NewClient(cc), nil
}

// Serve runs p as a go-plugin gRPC plugin; a plugin's main is exactly `sdk.Serve(impl)`.
// It returns when the host closes the plugin. Started by hand (without the
// handshake cookie) it prints a hint and exits with status 1.
func Serve(p Plugin) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: HandshakeConfig(),
		Plugins:         plugin.PluginSet{PluginKey: &grpcPlugin{impl: p}},
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "plugin",
			Output:     os.Stderr,
			Level:      hclog.Warn,
			JSONFormat: true,
		}),
	})
}
