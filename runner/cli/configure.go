package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/enroll"
)

// maxEnvFile bounds an installer's environment file.
const maxEnvFile = 64 << 10

// envKeyRE is what a key an error may quote looks like.
var envKeyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// envKeys maps the keys of an installer's environment file
// (/etc/default/sitewarden-runner) to configuration keys; the token has no
// configuration key: it goes to enroll_token_file.
var envKeys = map[string]string{
	"SITEWARDEN_CONTROL_PLANE": "control_plane",
	"SITEWARDEN_PROXY":         "proxy",
	"SITEWARDEN_LOG_LEVEL":     "log_level",
	"SITEWARDEN_SITE_NAME":     "site_name",
	"SITEWARDEN_ENROLL_TOKEN":  "",
}

// configureFlags are what an installer hands over.
type configureFlags struct {
	config, root, envFile, token string
	values                       map[string]*string
	enroll, serviceRecovery      bool
}

func newConfigureCmd() *cobra.Command {
	f := configureFlags{values: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "configure",
		Short: "Write installer settings into the configuration file (used by the MSI and the Linux packages)",
		Long: `Write the settings an installer was given into the configuration file,
keeping every other key. Empty values are left out, so an upgrade without
settings keeps the configuration it has. An enrollment token is written to
the file that enroll_token_file names (mode 0600), never into the
configuration itself; the runner deletes it once it has enrolled (at once
with --enroll, otherwise on its first start).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", config.DefaultConfigFile(), "configuration file to write")
	fl.StringVar(&f.root, "root", "", "prefix every path with this directory (staged installs: dpkg --root, DPKG_ROOT)")
	fl.StringVar(&f.envFile, "env-file", "", "read SITEWARDEN_CONTROL_PLANE, SITEWARDEN_ENROLL_TOKEN, SITEWARDEN_PROXY, SITEWARDEN_LOG_LEVEL, SITEWARDEN_SITE_NAME from this KEY=VALUE file (flags win)")
	fl.StringVar(&f.token, "token", "", "one-time enrollment token (prefer --env-file: a command line is visible to administrators)")
	for _, k := range config.Settable {
		f.values[k] = fl.String(strings.ReplaceAll(k, "_", "-"), "", "sets "+k+" (empty: unchanged)")
	}
	fl.BoolVar(&f.enroll, "enroll", false, "enroll now when a token is waiting and the site is not enrolled yet")
	fl.BoolVar(&f.serviceRecovery, "service-recovery", false, "Windows: set the service's recovery actions (restart after 5 s, reset after a day)")
	return cmd
}

func (f *configureFlags) run(cmd *cobra.Command) error {
	values := map[string]string{}
	token := ""
	if f.envFile != "" {
		env, err := readEnvFile(filepath.Join(f.root, f.envFile))
		if err != nil {
			return err
		}
		for k, v := range env {
			if key := envKeys[k]; key != "" {
				values[key] = v
			} else if k == "SITEWARDEN_ENROLL_TOKEN" {
				token = v
			}
		}
	}
	for k, v := range f.values {
		if *v != "" {
			values[k] = *v
		}
	}
	for _, k := range []string{"plugin_dir", "state_dir", "enroll_token_file"} {
		if v, ok := values[k]; ok {
			// The MSI passes "[PLUGINDIR]." so that no backslash ends a quoted argument.
			values[k] = filepath.Clean(v)
		}
	}
	if f.token != "" {
		token = f.token
	}
	path := filepath.Join(f.root, f.config)
	if err := restrictDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if len(values) > 0 {
		if err := config.Set(path, values); err != nil {
			return fmt.Errorf("configure: %w", err)
		}
	}
	cfg, err := config.Load(path, true)
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	out := cmd.OutOrStdout()
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(out, "configuration %s: set %v\n", path, keys)
	tokenFile := filepath.Join(f.root, cfg.EnrollTokenFile)
	if _, err := enroll.Load(filepath.Join(f.root, cfg.StateDir)); err == nil && token != "" {
		// An upgrade or a repeated RMM script: the site keeps its identity
		// and the (used) token is not written anywhere.
		fmt.Fprintln(out, "already enrolled: the enrollment token is not used")
		token = ""
	}
	if token != "" {
		if err := writePrivate(tokenFile, []byte(strings.TrimSpace(token)+"\n")); err != nil {
			return fmt.Errorf("configure: write the enrollment token: %w", err)
		}
		fmt.Fprintf(out, "enrollment token written to %s\n", tokenFile)
	}
	if f.serviceRecovery {
		if err := setServiceRecovery(); err != nil {
			return fmt.Errorf("configure: %w", err)
		}
	}
	if f.enroll {
		return enrollWaiting(cmd, cfg, filepath.Join(f.root, cfg.StateDir), tokenFile)
	}
	return nil
}

// enrollWaiting enrolls with the token in tokenFile unless the site is
// enrolled already, then deletes the file.
func enrollWaiting(cmd *cobra.Command, cfg config.Config, stateDir, tokenFile string) error {
	out := cmd.OutOrStdout()
	if _, err := enroll.Load(stateDir); err == nil {
		fmt.Fprintf(out, "already enrolled (state in %s)\n", stateDir)
		return nil
	}
	tok, err := os.ReadFile(tokenFile)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(out, "no enrollment token waiting: not enrolled yet")
		return nil
	}
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("configure: state directory: %w", err)
	}
	id, err := enroll.Enroller{Dir: stateDir, Proxy: cfg.ProxyURL(), SiteName: cfg.SiteNameForEnroll}.Enroll(cmd.Context(), strings.TrimSpace(string(tok)))
	if err != nil {
		return fmt.Errorf("%w; the token stays in %s and the runner tries again when it starts", err, tokenFile)
	}
	if err := os.Remove(tokenFile); err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: enrolled, but could not delete the used token file: %v\n", err)
	}
	_, err = fmt.Fprintf(out, "enrolled as %s (state in %s)\n", id, stateDir)
	return err
}

// readEnvFile reads KEY=VALUE lines (shell-style: # comments, optional
// quotes, an optional "export "); it never evaluates anything. Unknown
// SITEWARDEN_ keys are refused so that a typo is seen.
func readEnvFile(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	defer fh.Close()
	return parseEnv(io.LimitReader(fh, maxEnvFile), path)
}

// parseEnv decodes an environment file read from r; path names it in errors.
// A value never appears in an error (it may be the token).
func parseEnv(r io.Reader, path string) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return nil, fmt.Errorf("configure: %s line %d: not KEY=VALUE", path, n)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		if _, known := envKeys[k]; !known {
			if strings.HasPrefix(k, "SITEWARDEN_") {
				name := k
				if !envKeyRE.MatchString(k) {
					name = "(not a plain name; not shown: it may hold a secret)"
				}
				return nil, fmt.Errorf("configure: %s line %d: unknown key %s; use one of SITEWARDEN_CONTROL_PLANE, SITEWARDEN_ENROLL_TOKEN, SITEWARDEN_PROXY, SITEWARDEN_LOG_LEVEL", path, n, name)
			}
			continue
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("configure: %s: %w", path, err)
	}
	return env, nil
}

// writePrivate writes b to path (mode 0600) through a temporary file.
func writePrivate(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func newPurgeCmd() *cobra.Command {
	var configFile, root string
	var yes bool
	cmd := &cobra.Command{
		Use:   "purge --yes",
		Short: "Delete the site's data: state (identity, audit log), token, credentials and configuration",
		Long: `Delete everything the runner keeps: the state directory (site key and
certificate, audit log and key, outbox), the enrollment token, the
credentials file and the configuration file, then the configuration
directory when it is left empty. The MSI runs it on uninstall with PURGE=1.
There is no undo: export the audit log first ('sitewarden-runner audit export').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !yes {
				return usageError{errors.New("purge deletes the site's identity and audit log: add --yes")}
			}
			path := filepath.Join(root, configFile)
			cfg, err := config.Load(path, true)
			if err != nil {
				return err
			}
			var errs []error
			for _, p := range []string{cfg.StateDir, cfg.EnrollTokenFile, cfg.CredentialsFile, configFile} {
				if p == "" {
					continue
				}
				if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
					errs = append(errs, err)
				}
			}
			// Only an empty directory goes: anything else in it stays.
			_ = os.Remove(filepath.Dir(path))
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("purge: %w", err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "purged %s and %s\n", filepath.Join(root, cfg.StateDir), path)
			return err
		},
	}
	cmd.Flags().StringVar(&configFile, "config", config.DefaultConfigFile(), "configuration file naming what to delete")
	cmd.Flags().StringVar(&root, "root", "", "prefix every path with this directory (staged installs)")
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return cmd
}
