package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Job is background work that must run once per Period across replicas.
// Run should check its own result first where it can (a crash after it
// succeeded and before the run was recorded runs the period again).
type Job struct {
	// Name identifies the job across replicas; keep it stable.
	Name string
	// Period is how often it runs; periods start at multiples of Period
	// since the Unix epoch in UTC (24h: each UTC day).
	Period time.Duration
	// Timeout bounds one run (default: Period, at most 10 minutes).
	Timeout time.Duration
	Run     func(ctx context.Context) error
}

// Validate checks j.
func (j Job) Validate() error {
	switch {
	case j.Name == "":
		return errors.New("cluster job: empty name")
	case j.Period < time.Second:
		return fmt.Errorf("cluster job %s: period %s is below 1s", j.Name, j.Period)
	case j.Run == nil:
		return fmt.Errorf("cluster job %s: no Run function", j.Name)
	}
	return nil
}

// Schedule checks every job each check interval and runs those whose
// current period is not done yet, through once, until ctx ends. now may be
// nil (time.Now).
func Schedule(ctx context.Context, once store.Once, jobs []Job, check time.Duration, now func() time.Time, log *slog.Logger) error {
	if check <= 0 {
		return fmt.Errorf("cluster schedule: check interval %s must be positive", check)
	}
	for _, j := range jobs {
		if err := j.Validate(); err != nil {
			return err
		}
	}
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(check)
	defer t.Stop()
	for {
		for _, j := range jobs {
			runDue(ctx, once, j, now(), log)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func runDue(ctx context.Context, once store.Once, j Job, now time.Time, log *slog.Logger) {
	period := now.UTC().Truncate(j.Period)
	timeout := j.Timeout
	if timeout <= 0 {
		timeout = min(j.Period, 10*time.Minute)
	}
	began := time.Now()
	ran, err := once.RunOnce(ctx, j.Name, period, func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return j.Run(rctx)
	})
	switch {
	case err != nil && ctx.Err() == nil:
		log.Warn("background job failed; another check will retry it", "job", j.Name, "period", period.Format(time.RFC3339), "err", err.Error())
	case ran && err == nil:
		log.Info("background job ran", "job", j.Name, "period", period.Format(time.RFC3339), "took_ms", time.Since(began).Milliseconds())
	}
}
