package model

import (
	"encoding/json"
	"time"
)

// The account-helper's tools for account_unlock, as plugin schemas would
// declare them.
var testTools = []Tool{
	{
		Name:        "directory.unlock_account",
		Description: "Unlock a locked directory account.",
		Params:      json.RawMessage(`{"type":"object","properties":{"user":{"type":"string","minLength":1,"maxLength":64}},"required":["user"],"additionalProperties":false}`),
	},
	{
		Name:        "directory.reset_password",
		Description: "Set a new random password and require a change at next sign-in.",
		Params:      json.RawMessage(`{"type":"object","properties":{"user":{"type":"string","minLength":1,"maxLength":64},"notify":{"type":"boolean"}},"required":["user"],"additionalProperties":false}`),
	},
	{
		Name:        "directory.add_group_member",
		Description: "Add a user to a group.",
		Params:      json.RawMessage(`{"type":"object","properties":{"user":{"type":"string","maxLength":64},"group":{"type":"string","maxLength":64}},"required":["user","group"],"additionalProperties":false}`),
	},
}

func testState() State {
	return State{
		Goal: Goal{
			ID:         "g-1",
			Workflow:   "account_unlock",
			Subject:    map[string]string{"user": "dana"},
			TicketText: "Hi, I locked myself out after the holidays. Dana",
		},
		Tools:  testTools[:2],
		Budget: Budget{Steps: 8, Actions: 4, Time: 5 * time.Minute},
	}
}

func testPlaybook() Playbook {
	return Playbook{
		ID:       "unlock-v1",
		Workflow: "account_unlock",
		Alternatives: []Alternative{
			{Name: "unlock", Steps: []PlaybookStep{{Action: "directory.unlock_account", Params: json.RawMessage(`{"user":"${subject.user}"}`)}}},
			{Name: "reset", Steps: []PlaybookStep{{Action: "directory.reset_password", Params: json.RawMessage(`{"user":"${subject.user}","notify":true}`)}}},
		},
	}
}
