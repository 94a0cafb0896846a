package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/metrics"
	"github.com/sitewarden/sitewarden/control-plane/notify"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// loadNotify reads --notify-config for a server of tenant; a zero config
// and no error when path is empty.
func loadNotify(path, tenant string) (notify.Config, bool, error) {
	if path == "" {
		return notify.Config{}, false, nil
	}
	cfg, err := notify.LoadConfig(path)
	if err != nil {
		return cfg, false, usageError{fmt.Errorf("--notify-config: %w", err)}
	}
	cfg.Tenant = tenant
	if err := cfg.Validate(); err != nil {
		return cfg, false, usageError{fmt.Errorf("--notify-config %s: %w", path, err)}
	}
	return cfg, true, nil
}

// startNotify runs the notifier over st until the returned stop function
// is called; it also returns the metrics option exposing it. With no
// configuration it does nothing.
func startNotify(ctx context.Context, cfg notify.Config, on bool, st store.Store, log *slog.Logger) (stop func(), opts []metrics.Option, err error) {
	if !on {
		return func() {}, nil, nil
	}
	ns, ok := st.(notify.Store)
	if !ok {
		return nil, nil, errors.New("--notify-config: this store keeps no notification outbox")
	}
	n, err := notify.New(cfg, ns, log)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = n.Run(ctx) })
	log.Info("notifications on", "targets", len(cfg.Targets))
	return func() { cancel(); wg.Wait() }, []metrics.Option{metrics.WithNotify(n)}, nil
}

func newNotifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "notify",
		Short: "Outbound notifications to chat and PSA webhooks (docs/notify.md)",
	}
	var path, target, tenant string
	test := &cobra.Command{
		Use:   "test",
		Short: "Send a test event to the targets of a notify config and print each answer",
		Long: `Send one event of type "test" to every target of --notify-config (or the one
named by --target), formatted and signed as the server would, and print the
HTTP status or the error. No server is needed; the exit code is 1 when a
target failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return usageError{errors.New("--notify-config is required")}
			}
			cfg, _, err := loadNotify(path, tenant)
			if err != nil {
				return err
			}
			targets := cfg.Targets
			if target != "" {
				t, err := cfg.Target(target)
				if err != nil {
					return usageError{err}
				}
				targets = []notify.Target{t}
			}
			var b [8]byte
			_, _ = rand.Read(b[:])
			now := time.Now().UTC()
			e := notify.Event{Version: notify.EventVersion, ID: "test:" + hex.EncodeToString(b[:]), Type: notify.EventTest, Time: now,
				Tenant: tenant, Client: "-", Site: "-", Summary: "Sitewarden test notification: this target is configured correctly", Link: cfg.BaseURL}
			sender := notify.NewSender(nil)
			failed := 0
			for _, t := range targets {
				start := time.Now()
				status, err := sender.Send(cmd.Context(), t, e)
				took := time.Since(start).Round(time.Millisecond)
				if err != nil {
					failed++
					if status != 0 {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: HTTP %d (%s): failed\n", t.Name, status, took)
					} else {
						fmt.Fprintf(cmd.OutOrStdout(), "%s: error: %v\n", t.Name, err)
					}
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: HTTP %d (%s)\n", t.Name, status, took)
			}
			if failed > 0 {
				return fmt.Errorf("notify test: %d of %d targets failed; check their url, secret and format (docs/notify.md)", failed, len(targets))
			}
			return nil
		},
	}
	test.Flags().StringVar(&path, "notify-config", "", "notifications config file (YAML, mode 0600)")
	test.Flags().StringVar(&target, "target", "", "send to this target only (default: all)")
	test.Flags().StringVar(&tenant, "tenant", "default", "tenant named in the test event")
	cmd.AddCommand(test)
	return cmd
}
