package agent

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// PluginHost is what HostActions needs of runner/pluginhost.Host.
type PluginHost interface {
	Describe(ctx context.Context, plugin string) (sdk.Info, error)
	Execute(ctx context.Context, req sdk.Request) (sdk.Result, error)
}

// HostActions offers the operations of the plugins the scope in force
// trusts: an action is known only when the scope's catalog lists it for
// its plugin and the running plugin describes it.
type HostActions struct {
	host   PluginHost
	policy Policy

	mu    sync.Mutex
	infos map[string]sdk.Info // by plugin name
}

var _ Actions = (*HostActions)(nil)

// NewHostActions returns Actions over host, trusting what policy's scope
// catalogs.
func NewHostActions(host PluginHost, policy Policy) *HostActions {
	return &HostActions{host: host, policy: policy, infos: map[string]sdk.Info{}}
}

// Operation describes action, or says why it is not available.
func (h *HostActions) Operation(ctx context.Context, action string) (sdk.Operation, error) {
	plugin := dataKind(action)
	s := h.policy.Scope()
	if s == nil {
		return sdk.Operation{}, fmt.Errorf("action %s: no scope is loaded", action)
	}
	p, ok := s.Plugin(plugin)
	if !ok || !slices.Contains(p.Actions, action) {
		return sdk.Operation{}, fmt.Errorf("action %s: no plugin in the scope's catalog declares it", action)
	}
	info, err := h.describe(ctx, plugin)
	if err != nil {
		return sdk.Operation{}, err
	}
	for _, op := range info.Operations {
		if op.Name == action {
			return op, nil
		}
	}
	return sdk.Operation{}, fmt.Errorf("action %s: plugin %s %s does not offer it", action, plugin, info.Version)
}

func (h *HostActions) describe(ctx context.Context, plugin string) (sdk.Info, error) {
	h.mu.Lock()
	info, ok := h.infos[plugin]
	h.mu.Unlock()
	if ok {
		return info, nil
	}
	info, err := h.host.Describe(ctx, plugin)
	if err != nil {
		return sdk.Info{}, fmt.Errorf("describe plugin %s: %w", plugin, err)
	}
	h.mu.Lock()
	h.infos[plugin] = info
	h.mu.Unlock()
	return info, nil
}

// Execute runs req through the host.
func (h *HostActions) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	return h.host.Execute(ctx, req)
}
