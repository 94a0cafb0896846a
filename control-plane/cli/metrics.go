package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sitewarden/sitewarden/control-plane/metrics"
)

// metricsOpts are the server's Prometheus flags.
type metricsOpts struct {
	listen    string
	tokenFile string
}

func (m *metricsOpts) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&m.listen, "metrics-listen", "", "serve Prometheus /metrics over plain HTTP on this address, e.g. 127.0.0.1:9464 (empty: off; an address other than loopback needs --metrics-token-file)")
	cmd.Flags().StringVar(&m.tokenFile, "metrics-token-file", "", "file holding the bearer token scrapers must send to /metrics")
	// Refuse bad metrics flags before the server opens anything.
	cmd.PreRunE = func(*cobra.Command, []string) error {
		_, err := m.config()
		return err
	}
}

// config reads the token file and checks the settings.
func (m metricsOpts) config() (metrics.Config, error) {
	cfg := metrics.DefaultConfig()
	cfg.Listen = m.listen
	if m.tokenFile != "" {
		b, err := os.ReadFile(m.tokenFile)
		if err != nil {
			return cfg, usageError{fmt.Errorf("--metrics-token-file: %w", err)}
		}
		if cfg.Token = strings.TrimSpace(string(b)); len(cfg.Token) < 16 {
			return cfg, usageError{fmt.Errorf("--metrics-token-file %s: the token must have at least 16 characters", m.tokenFile)}
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// startMetrics starts the metrics listener when configured; the returned
// stop function is safe to call either way.
func startMetrics(m metricsOpts, s metrics.Sync, st any, log *slog.Logger, opts ...metrics.Option) (stop func(), err error) {
	cfg, err := m.config()
	if err != nil {
		return nil, err
	}
	q, _ := st.(metrics.Queues) // a store without queue sizes serves the sync metrics only
	srv, err := metrics.Start(cfg, s, q, log, opts...)
	if err != nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Stop(ctx)
	}, nil
}
