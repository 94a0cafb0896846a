package audit

import (
	"errors"
	"fmt"
	"time"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// Config configures a Log. Start from DefaultConfig.
type Config struct {
	// Dir holds the log: segments/ (durable record journal) and index/
	// (Badger).
	Dir string
	// Client and Site name the log; its origin is
	// "sitewarden-audit/<client>/<site>". A read-only Open (no key) may
	// leave Site empty to adopt the site of the log found in Dir.
	Client string
	Site   string
	// SegmentSize is the size of each preallocated segment file, in bytes.
	SegmentSize int64
	// MaxBatch bounds the records of one group commit.
	MaxBatch int
	// CheckpointEvery signs a checkpoint after this many records...
	CheckpointEvery uint64
	// CheckpointInterval ...and at least this often while records arrive.
	CheckpointInterval time.Duration
	// MaxRead bounds the records one Records call returns.
	MaxRead uint64
	// BadgerMemTableSize is Badger's memtable size in bytes.
	BadgerMemTableSize int64
}

// DefaultConfig returns the defaults: the per-OS data directory
// (defaultDir), 16 MiB segments, group commits of up to 1,024 records, a
// checkpoint every 1,000 records or every second of activity.
func DefaultConfig() Config {
	return Config{
		Dir:                defaultDir(),
		SegmentSize:        16 << 20,
		MaxBatch:           1024,
		CheckpointEvery:    1000,
		CheckpointInterval: time.Second,
		MaxRead:            10_000,
		BadgerMemTableSize: 16 << 20,
	}
}

// Validate reports every problem in c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("audit: dir is empty; set it to the runner's audit data directory"))
	}
	site := c.Site
	if site == "" {
		site = "any" // checked against the stored log by a read-only Open
	}
	if _, err := protocolaudit.Origin(c.Client, site); err != nil {
		errs = append(errs, fmt.Errorf("audit: %w", err))
	}
	if c.SegmentSize < 4*protocolaudit.MaxRecordSize || c.SegmentSize > 1<<30 {
		errs = append(errs, fmt.Errorf("audit: segment size %d must be between %d and %d bytes", c.SegmentSize, 4*protocolaudit.MaxRecordSize, 1<<30))
	}
	if c.MaxBatch < 1 || c.MaxBatch > 65536 {
		errs = append(errs, fmt.Errorf("audit: max batch %d must be 1..65536", c.MaxBatch))
	}
	if c.CheckpointEvery < 1 || c.CheckpointEvery > 1_000_000 {
		errs = append(errs, fmt.Errorf("audit: checkpoint every %d records must be 1..1000000", c.CheckpointEvery))
	}
	if c.CheckpointInterval < 10*time.Millisecond || c.CheckpointInterval > time.Hour {
		errs = append(errs, fmt.Errorf("audit: checkpoint interval %s must be 10ms..1h", c.CheckpointInterval))
	}
	if c.MaxRead < 1 {
		errs = append(errs, fmt.Errorf("audit: max read %d must be at least 1", c.MaxRead))
	}
	if c.BadgerMemTableSize < 1<<20 {
		errs = append(errs, fmt.Errorf("audit: badger memtable size %d must be at least 1 MiB", c.BadgerMemTableSize))
	}
	return errors.Join(errs...)
}
