package pluginhost

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// CredentialKeys tells the host which credential keys the runner hands a
// plugin's calls: the names in the plugin's section of the credentials
// file that hold a non-empty value, never the values. The runner's
// credentials file satisfies it through an adapter in runner/cli. Safe for
// concurrent use.
type CredentialKeys interface {
	// Keys returns the names of the non-empty keys in plugin's section; nil
	// or empty when the file has no such section.
	Keys(plugin string) []string
}

// CheckCredentials compares the credential keys a plugin declares as
// required (spec) with the keys its section holds (have). It returns nil
// when none is missing or the plugin declares nothing (spec nil: a plugin
// built before declarations existed). Otherwise the error wraps
// ErrMissingCredentials and names the plugin, the section, the missing
// keys and the credentials file (file), never a value. The host runs it at
// every plugin start; 'plugins list' shows the same check.
func CheckCredentials(plugin string, spec *sdk.CredentialSpec, have []string, file string) error {
	var missing []string
	for _, k := range spec.Required() {
		if !slices.Contains(have, k) {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	noun := "credential"
	if len(missing) > 1 {
		noun = "credentials"
	}
	where := fmt.Sprintf("the section %q of the credentials file %s", plugin, file)
	if file == "" {
		where = fmt.Sprintf("the runner's credentials section %q", plugin)
	}
	return fmt.Errorf("%w: %s: missing %s %s: add %s to %s (the plugin describes each key; 'sitewarden-runner plugins list' shows them), then restart the runner",
		ErrMissingCredentials, plugin, noun, strings.Join(missing, ", "), pronoun(len(missing)), where)
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}
