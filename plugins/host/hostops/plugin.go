package hostops

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// Version is the plugin's version.
const Version = "0.1.0"

// Config bounds the plugin's work.
type Config struct {
	// MaxCleanupEntries bounds the directory entries one cleanup visits.
	MaxCleanupEntries int
	// MaxCleanupReported bounds the paths a cleanup lists in its result.
	MaxCleanupReported int
	// CPUSample is how long top_processes samples CPU use.
	CPUSample time.Duration
	// MaxProcesses bounds the processes top_processes reads.
	MaxProcesses int
	// ServiceTimeout bounds a service query or restart.
	ServiceTimeout time.Duration
}

// DefaultConfig returns the limits the plugin binary uses.
func DefaultConfig() Config {
	return Config{
		MaxCleanupEntries:  200_000,
		MaxCleanupReported: 50,
		CPUSample:          500 * time.Millisecond,
		MaxProcesses:       10_000,
		ServiceTimeout:     60 * time.Second,
	}
}

// Plugin is the host plugin.
type Plugin struct {
	cfg Config
}

var _ sdk.Plugin = (*Plugin)(nil)

// New returns the plugin.
func New(cfg Config) *Plugin { return &Plugin{cfg: cfg} }

const serviceNameSchema = `{"type":"string","minLength":1,"maxLength":128,"pattern":"^[A-Za-z0-9_][A-Za-z0-9@._:\\-]*$"}`

var operations = []sdk.Operation{
	{
		Name:         "host.disk_usage",
		Description:  "Report size, used and free bytes of every mounted volume on this machine.",
		ParamsSchema: json.RawMessage(`{"type":"object","additionalProperties":false}`),
		ResultSchema: json.RawMessage(`{"type":"object","required":["volumes"],"properties":{"volumes":{"type":"array","items":{"type":"object","required":["mount","total_bytes","free_bytes","used_bytes","used_percent"],"properties":{"mount":{"type":"string"},"device":{"type":"string"},"fstype":{"type":"string"},"total_bytes":{"type":"integer"},"free_bytes":{"type":"integer"},"used_bytes":{"type":"integer"},"used_percent":{"type":"number"}}}}}}`),
		Risk:         sdk.RiskRead,
	},
	{
		Name: "host.cleanup",
		Description: "Delete regular files last modified more than older_than_days days ago under the given root directories. " +
			"Never follows symlinks or junctions and never leaves a root. With dry_run (the default) nothing is deleted and the files and bytes that would be freed are reported.",
		ParamsSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"required":["roots","older_than_days"],"properties":{"roots":{"type":"array","minItems":1,"maxItems":16,"items":{"type":"string","minLength":2,"maxLength":1024}},"older_than_days":{"type":"integer","minimum":1,"maximum":36500},"dry_run":{"type":"boolean"}}}`),
		ResultSchema: json.RawMessage(`{"type":"object","required":["dry_run","files","bytes","errors","truncated"],"properties":{"dry_run":{"type":"boolean"},"files":{"type":"integer"},"bytes":{"type":"integer"},"errors":{"type":"integer"},"truncated":{"type":"boolean"},"skipped_links":{"type":"integer"},"sample":{"type":"array","items":{"type":"string"}}}}`),
		Risk:         sdk.RiskDestructive,
		VerifiedBy:   "host.disk_usage",
	},
	{
		Name:         "host.service_status",
		Description:  "Report whether a system service is loaded and running (systemd on Linux, the Service Control Manager on Windows).",
		ParamsSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"required":["name"],"properties":{"name":` + serviceNameSchema + `}}`),
		ResultSchema: json.RawMessage(`{"type":"object","required":["name","running","state"],"properties":{"name":{"type":"string"},"running":{"type":"boolean"},"state":{"type":"string"},"sub_state":{"type":"string"},"description":{"type":"string"},"pid":{"type":"integer"}}}`),
		Risk:         sdk.RiskRead,
	},
	{
		Name:         "host.restart_service",
		Description:  "Restart a system service (stop, then start) and report its state afterwards.",
		ParamsSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"required":["name"],"properties":{"name":` + serviceNameSchema + `}}`),
		ResultSchema: json.RawMessage(`{"type":"object","required":["name","running","state"],"properties":{"name":{"type":"string"},"running":{"type":"boolean"},"state":{"type":"string"},"sub_state":{"type":"string"},"description":{"type":"string"},"pid":{"type":"integer"}}}`),
		Risk:         sdk.RiskWrite,
		VerifiedBy:   "host.service_status",
	},
	{
		Name:         "host.top_processes",
		Description:  "List the processes using the most CPU (sampled over half a second) or the most memory.",
		ParamsSchema: json.RawMessage(`{"type":"object","additionalProperties":false,"properties":{"by":{"enum":["cpu","memory"]},"limit":{"type":"integer","minimum":1,"maximum":100}}}`),
		ResultSchema: json.RawMessage(`{"type":"object","required":["by","processes"],"properties":{"by":{"type":"string"},"processes":{"type":"array","items":{"type":"object","required":["pid","name","cpu_percent","rss_bytes"],"properties":{"pid":{"type":"integer"},"name":{"type":"string"},"cpu_percent":{"type":"number"},"rss_bytes":{"type":"integer"}}}}}}`),
		Risk:         sdk.RiskRead,
	},
}

// Describe returns the plugin's operations. It acts on the local machine
// with the runner's own rights, so it declares that it needs no
// credentials (TestCredentialDeclaration checks it reads none).
func (p *Plugin) Describe(context.Context) (sdk.Info, error) {
	return sdk.Info{Name: "host", Version: Version, APIVersions: []int{sdk.APIVersion}, Operations: operations,
		Credentials: &sdk.CredentialSpec{}}, nil
}

// Execute runs one operation. Params have been validated by the SDK.
func (p *Plugin) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	var out any
	var err error
	switch req.Operation {
	case "host.disk_usage":
		out, err = diskUsage(ctx)
	case "host.cleanup":
		var params CleanupParams
		if err := json.Unmarshal(req.Params, &params); err != nil {
			return sdk.Result{}, fmt.Errorf("cleanup params: %w", err)
		}
		out, err = Cleanup(ctx, params, time.Now(), p.cfg)
	case "host.service_status", "host.restart_service":
		var params struct{ Name string }
		if err := json.Unmarshal(req.Params, &params); err != nil {
			return sdk.Result{}, fmt.Errorf("service params: %w", err)
		}
		ctx, cancel := context.WithTimeout(ctx, p.cfg.ServiceTimeout)
		defer cancel()
		if req.Operation == "host.restart_service" {
			out, err = restartService(ctx, params.Name)
		} else {
			out, err = serviceStatus(ctx, params.Name)
		}
	case "host.top_processes":
		params := struct {
			By    string
			Limit int
		}{By: "cpu", Limit: 10}
		if err := json.Unmarshal(req.Params, &params); err != nil {
			return sdk.Result{}, fmt.Errorf("top_processes params: %w", err)
		}
		out, err = topProcesses(ctx, params.By, params.Limit, p.cfg)
	default:
		return sdk.Result{}, fmt.Errorf("operation %q is not implemented", req.Operation)
	}
	if err != nil {
		return sdk.Result{}, err
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("encode result: %w", err)
	}
	return sdk.Result{Output: raw}, nil
}

// Volume is one mounted volume.
type Volume struct {
	Mount       string  `json:"mount"`
	Device      string  `json:"device,omitempty"`
	FSType      string  `json:"fstype,omitempty"`
	TotalBytes  uint64  `json:"total_bytes"`
	FreeBytes   uint64  `json:"free_bytes"`
	UsedBytes   uint64  `json:"used_bytes"`
	UsedPercent float64 `json:"used_percent"`
}

func newVolume(mount, device, fstype string, total, free uint64) Volume {
	v := Volume{Mount: mount, Device: device, FSType: fstype, TotalBytes: total, FreeBytes: free}
	if total >= free {
		v.UsedBytes = total - free
	}
	if total > 0 {
		v.UsedPercent = float64(int(float64(v.UsedBytes)/float64(total)*10000)) / 100
	}
	return v
}

// ServiceState is a service's state.
type ServiceState struct {
	Name        string `json:"name"`
	Running     bool   `json:"running"`
	State       string `json:"state"`
	SubState    string `json:"sub_state,omitempty"`
	Description string `json:"description,omitempty"`
	PID         int    `json:"pid,omitempty"`
}

// Process is one entry of top_processes.
type Process struct {
	PID        int     `json:"pid"`
	Name       string  `json:"name"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSBytes   uint64  `json:"rss_bytes"`
}

func sortProcesses(procs []Process, by string) {
	sort.Slice(procs, func(i, j int) bool {
		a, b := procs[i], procs[j]
		if by == "cpu" && a.CPUPercent != b.CPUPercent {
			return a.CPUPercent > b.CPUPercent
		}
		if a.RSSBytes != b.RSSBytes {
			return a.RSSBytes > b.RSSBytes
		}
		return a.PID < b.PID
	})
}
