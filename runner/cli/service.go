package cli

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/runner/config"
	"github.com/sitewarden/sitewarden/runner/service"
)

// newServiceCmds returns install, uninstall, start, stop, restart and
// status: service control through the OS service manager.
func newServiceCmds(_ io.Writer) []*cobra.Command {
	var cmds []*cobra.Command
	for _, action := range service.Actions {
		var configFile, user string
		cmd := &cobra.Command{
			Use:   action,
			Short: fmt.Sprintf("%s the sitewarden-runner service (systemd or the Windows SCM)", action),
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				m, err := newManager(configFile, user)
				if err != nil {
					return err
				}
				if err := m.Control(action); err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "sitewarden-runner service: %s done\n", action)
				return err
			},
		}
		cmd.Flags().StringVar(&configFile, "config", config.DefaultConfigFile(), "configuration file the service runs with")
		if action == "install" {
			cmd.Flags().StringVar(&user, "user", "", "account to run as (empty: root / LocalSystem; see docs/runner.md)")
		}
		cmds = append(cmds, cmd)
	}
	var configFile string
	status := &cobra.Command{
		Use:   "status",
		Short: "Print the sitewarden-runner service's state: running, stopped or not-installed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := newManager(configFile, "")
			if err != nil {
				return err
			}
			st, err := m.Status()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), st)
			return err
		},
	}
	status.Flags().StringVar(&configFile, "config", config.DefaultConfigFile(), "configuration file")
	return append(cmds, status)
}

func newManager(configFile, user string) (*service.Manager, error) {
	abs, err := filepath.Abs(configFile)
	if err != nil {
		return nil, err
	}
	cfg := service.DefaultConfig(abs)
	cfg.UserName = user
	return service.NewManager(cfg)
}
