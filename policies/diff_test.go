package policies

import (
	"slices"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	base := string(mustRead(t, "testdata/decide.yaml"))
	tests := []struct {
		name string
		old  string // replaced in base ...
		new  string // ... by this
		want []string
	}{
		{"identical", "", "", nil},
		{"description only", "description: everything of p", "description: all of p", nil},
		{"mode raised to autonomous", "w_approve: {mode: approve,", "w_approve: {mode: autonomous,",
			[]string{"WIDENS  agent tester, workflow w_approve: mode approve -> autonomous"}},
		{"mode lowered", "w_auto: {mode: autonomous,", "w_auto: {mode: shadow,",
			[]string{"NARROWS agent tester, workflow w_auto: mode autonomous -> shadow"}},
		{"budget increased", "maxSteps: 5, maxActions: 3, maxWallTime: 90s", "maxSteps: 6, maxActions: 3, maxWallTime: 2m",
			[]string{"WIDENS  agent tester, workflow w_auto: budget maxSteps 5 -> 6", "WIDENS  agent tester, workflow w_auto: budget maxWallTime 1m30s -> 2m"}},
		{"budget decreased", "maxSteps: 5, maxActions: 3, maxWallTime: 1h", "maxSteps: 5, maxActions: 1, maxWallTime: 1h",
			[]string{"NARROWS agent tester, workflow w_approve: budget maxActions 3 -> 1"}},
		{"new action allowed", "id: q-four\n        actions: [q.four]\n", "id: q-four\n        actions: [q.four, q.five]\n",
			[]string{"WIDENS  agent tester, allow rule q-four: action q.five added"}},
		{"allow condition removed", "        when: target.count > 5\n", "",
			[]string{"WIDENS  agent tester, allow rule q-three-when-count: condition removed (was: target.count > 5)"}},
		{"allow condition changed", "when: target.count > 5", "when: target.count > 1",
			[]string{"WIDENS  agent tester, allow rule q-three-when-count: condition changed; review it: target.count > 5 -> target.count > 1"}},
		{"deny condition removed narrows", "        when: target.x == \"y\"\n", "",
			[]string{"NARROWS agent tester, deny rule deny-four-if-x: condition removed (was: target.x == \"y\")"}},
		{"deny rule removed widens", "      - id: deny-delete\n        actions: [p.delete]\n", "",
			[]string{"WIDENS  agent tester, deny rule deny-delete: removed (was: actions p.delete unconditionally)"}},
		{"approval dropped", "        approval: required\n", "",
			[]string{"WIDENS  agent tester, allow rule write-risky-needs-approval: approval no longer required"}},
		{"rule limited to fewer workflows", "workflows: [w_auto, w_shadow, w_approve, w_off]", "workflows: [w_auto]",
			[]string{"NARROWS agent tester, allow rule allow-all-p: workflow w_shadow removed", "NARROWS agent tester, allow rule allow-all-p: workflow w_approve removed", "NARROWS agent tester, allow rule allow-all-p: workflow w_off removed"}},
		{"data attribute added", "host: [name]", "host: [name, ip]",
			[]string{"WIDENS  agent tester, data host: attribute ip added"}},
		{"new site", "sites: [hq, branch]", "sites: [hq, branch, lab]", []string{"WIDENS  sites: site lab added"}},
		{"offline validity longer", "maxOfflineValidity: 2d", "maxOfflineValidity: 3d", []string{"WIDENS  maxOfflineValidity: 2d -> 3d"}},
		{"plugin build changed", "version: 2.0.0", "version: 2.0.1", []string{"WIDENS  catalog plugin q: trusts a different build: 2.0.1 sha256 bbbb"}},
		{"new workflow", "      w_off:", "      w_new: {mode: shadow, budget: {maxSteps: 1, maxActions: 1, maxWallTime: 1m}}\n      w_off:",
			// Rules without a workflows list reach the new workflow too.
			[]string{"WIDENS  agent tester, workflow w_new: now handled, mode shadow, budget 1 steps, 1 actions, 1m",
				"WIDENS  agent tester, allow rule q-four: workflow w_new added", "WIDENS  agent tester, allow rule q-five-goal: workflow w_new added",
				"WIDENS  agent tester, allow rule q-three-when-count: workflow w_new added", "WIDENS  agent tester, allow rule q-two-until-june: workflow w_new added",
				"WIDENS  agent tester, allow rule write-risky-needs-approval: workflow w_new added",
				"NARROWS agent tester, deny rule deny-admin-targets: workflow w_new added", "NARROWS agent tester, deny rule deny-delete: workflow w_new added",
				"NARROWS agent tester, deny rule deny-four-if-x: workflow w_new added"}},
		{"validation removed", "validation:\n  w_auto:\n    action: p.read\n    params: {id: \"{{goal.user}}\"}\n", "",
			[]string{"WIDENS  validation of w_auto: removed (was p.read(id={{goal.user}})); success is no longer checked"}},
		{"playbook alternative removed", "    - name: second\n      steps:\n        - action: q.one\n", "",
			[]string{"NARROWS playbook w_auto: alternative second removed"}},
	}
	old := mustCompile(t, "testdata/decide.yaml")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := base
			if tt.old != "" {
				if !strings.Contains(base, tt.old) {
					t.Fatalf("fixture does not contain %q", tt.old)
				}
				src = strings.Replace(base, tt.old, tt.new, 1)
			}
			neu, err := Compile(DefaultConfig(), Source{Name: "new.yaml", Data: []byte(src)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range Diff(old, neu) {
				got = append(got, c.String())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Diff =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Fatalf("Diff =\n%s\nmissing %q", strings.Join(got, "\n"), w)
				}
			}
			// The reverse diff marks every change the other way.
			for _, c := range Diff(neu, old) {
				if c.Subject == "validation of w_auto" || strings.HasPrefix(c.Detail, "condition changed") || strings.HasPrefix(c.Detail, "trusts a different build") {
					continue // marked WIDENS both ways on purpose
				}
				for _, g := range Diff(old, neu) {
					if g.Subject == c.Subject && g.Mark == c.Mark && !strings.Contains(c.Detail, "->") {
						t.Fatalf("reverse of %q kept mark %s", g, c.Mark)
					}
				}
			}
		})
	}
}
