package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// edit is one change the demo makes to a reference pack, with why.
type edit struct {
	old, new, why string
	re            bool // old is a regular expression
	n             int  // times old occurs (0: once)
}

// packs are the reference policy packs each demo client gets, with the
// edits that fit them to the demo's machine and directory. Every edit must
// apply exactly once: a pack that changed under the demo fails loudly.
func packs(dir string) (map[string]map[string][]edit, error) {
	dirSum, err := fileSHA256(filepath.Join(dir, "plugins", "sitewarden-plugin-directory"))
	if err != nil {
		return nil, err
	}
	hostSum, err := fileSHA256(filepath.Join(dir, "plugins", "sitewarden-plugin-host"))
	if err != nil {
		return nil, err
	}
	pin := func(sum, plugin string) edit {
		return edit{old: `sha256: [0-9a-f]{64}`, new: "sha256: " + sum, re: true, why: "pin the " + plugin + " plugin built in bin/plugins"}
	}
	return map[string]map[string][]edit{
		clientA: {"account.yaml": {
			pin(dirSum, "directory"),
			{old: `,ou=(staff|contractors),dc=example,dc=com$`, new: `,ou=people,dc=example,dc=test$`,
				why: "the demo directory keeps its staff under ou=people,dc=example,dc=test"},
			{old: "      - id: reset-the-goal-user\n        description: reset the password of the account the goal names\n",
				new: "      - id: reset-the-goal-user\n        description: reset the password of the account the goal names\n        approval: required\n",
				why: "every password reset waits for a supervisor (the pack gates only out-of-hours resets)"},
		}},
		clientB: {"disk.yaml": {
			pin(hostSum, "host"),
			{old: "client: example", new: "client: " + clientB, why: "the second demo client"},
			{old: "low_disk_space:\n        mode: autonomous", new: "low_disk_space:\n        mode: shadow",
				why: "disk cleanup runs in shadow mode: proposed and audited, nothing deleted"},
		}},
	}, nil
}

// writePacks writes each client's edited packs to state/scopes/<client>/
// and returns the directories by client.
func (d *demo) writePacks() (map[string]string, error) {
	all, err := packs(d.cfg.bin)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for client, files := range all {
		dir := filepath.Join(d.cfg.state, "scopes", client)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		for name, edits := range files {
			src, err := os.ReadFile(filepath.Join(d.cfg.packs, name))
			if err != nil {
				return nil, fmt.Errorf("reference pack: %w", err)
			}
			text := string(src)
			for _, e := range edits {
				if text, err = apply(text, e); err != nil {
					return nil, fmt.Errorf("pack %s: %w; update e2e/demo/scope.go to the pack", name, err)
				}
				if !strings.HasPrefix(e.why, "pin") && !strings.HasPrefix(e.why, "fit") {
					fmt.Fprintf(d.out, "demo: %s/%s: %s\n", client, name, e.why)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
				return nil, err
			}
		}
		out[client] = dir
	}
	return out, nil
}

func apply(text string, e edit) (string, error) {
	if e.re {
		re := regexp.MustCompile(`(?m)` + e.old)
		if n := len(re.FindAllStringIndex(text, -1)); n != 1 {
			return "", fmt.Errorf("%q matches %d times, want once (%s)", e.old, n, e.why)
		}
		return re.ReplaceAllLiteralString(text, e.new), nil
	}
	want := max(e.n, 1)
	if n := strings.Count(text, e.old); n != want {
		return "", fmt.Errorf("%q occurs %d times, want %d (%s)", e.old, n, want, e.why)
	}
	return strings.ReplaceAll(text, e.old, e.new), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w; build the binaries first ('make build')", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
