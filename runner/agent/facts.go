package agent

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	audit "github.com/sitewarden/sitewarden/protocol/audit"
)

// fact is what one successful read showed about the entity its params
// name. The policy engine sees facts as target attributes; the planner sees
// them only through the data-scope filter.
type fact struct {
	Action string         `json:"action"`
	Params map[string]any `json:"params"`
	Output map[string]any `json:"output"`
}

// decodeObject decodes a JSON object; anything else is an empty map.
func decodeObject(raw json.RawMessage) map[string]any {
	var m map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return map[string]any{}
	}
	return m
}

// target is what the policy engine sees of the entity an action's params
// name: the outputs of earlier reads whose params all match these params
// (same key, same value), oldest first, then the params themselves. Facts
// about another entity never leak into the target, so a proposal that
// names someone else is decided on what is known of that someone: usually
// nothing, which the scope's deny rules treat as unknown (fail closed).
func (r *run) target(params map[string]any) map[string]any {
	t := map[string]any{}
	for _, f := range r.facts {
		if matches(f.Params, params) {
			maps.Copy(t, f.Output)
		}
	}
	maps.Copy(t, params)
	return t
}

func matches(factParams, params map[string]any) bool {
	if len(factParams) == 0 {
		return false
	}
	for k, v := range factParams {
		pv, ok := params[k]
		if !ok || fmt.Sprint(pv) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// dataKind is the data kind an action's output belongs to in the agent's
// data scope: the plugin's name ("directory.find_user" → "directory").
func dataKind(action string) string {
	kind, _, _ := strings.Cut(action, ".")
	return kind
}

// filterOutput keeps the top-level fields of out the agent may read and
// returns them with the names of the fields withheld. Secret-named fields
// are withheld whatever the scope says.
func (r *run) filterOutput(action string, out map[string]any) (map[string]any, []string) {
	kind := dataKind(action)
	kept := map[string]any{}
	var withheld []string
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if secretName(k) || r.ag == nil || !r.ag.MayRead(kind, k) {
			withheld = append(withheld, k)
			continue
		}
		kept[k] = out[k]
	}
	return kept, withheld
}

// secretName reports a field name that must never carry a value to the
// planner, logs or audit: the audit format's secret words, anywhere in it.
func secretName(k string) bool { return audit.NamesSecret(k) }

// observations converts a plugin's observations, withholding secret ones
// and those outside the data scope.
func (r *run) observations(action string, obs []sdk.Observation) []Observation {
	out := make([]Observation, 0, len(obs))
	kind := dataKind(action)
	for _, o := range obs {
		if o.Secret || secretName(o.Key) || r.ag == nil || !r.ag.MayRead(kind, o.Key) {
			out = append(out, Observation{Key: o.Key, Redacted: true})
			continue
		}
		out = append(out, Observation{Key: o.Key, Value: truncate(o.Value, 1024)})
	}
	return out
}

// boundedJSON encodes v, replacing it with a note when it is too large.
func boundedJSON(v any, limit int) json.RawMessage {
	raw, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"error":"unencodable output"}`)
	}
	if len(raw) > limit {
		raw, _ = json.Marshal(map[string]any{"truncated": true, "bytes": len(raw)})
	}
	return raw
}
