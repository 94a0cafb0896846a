package audit

import (
	"fmt"
	"os"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
)

// dumpCommits appends one run's commit traces to path (AUDIT_DIAG set):
// a line "RUN fsync_us=<median fsync>", then per commit "C <write began, ms
// since the run's start> <write+sync µs> <gather µs> <records> <expected>
// <segment> <segment offset after the write>", to look for clusters of
// slow syncs (for instance while the next segment is being created).
func dumpCommits(b *testing.B, path string, commits []commitTrace, start time.Time, fsync time.Duration) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fmt.Fprintf(f, "RUN fsync_us=%d\n", fsync.Microseconds())
	for _, c := range commits {
		fmt.Fprintf(f, "C %.3f %d %d %d %d %d %d\n", float64(c.written.Sub(start).Microseconds())/1e3, c.synced.Sub(c.written).Microseconds(), c.written.Sub(c.gathered).Microseconds(), c.n, c.expect, c.seg, c.off)
	}
}

// appendSample is one benchmark append: when it began (since the run's
// start), how long it took, and the index it got.
type appendSample struct {
	began, lat time.Duration
	index      uint64
}

// gcCycles returns the GC cycles the process has completed.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// reportSlow reports why appends slower than limit were slow, from the
// commit traces (in commit order). Each slow append is counted under one
// cause, checked in this order:
//
//   - slow-miss-%: it began before the previous commit's write began but
//     was not in that commit, so it waited for that commit and then its own;
//   - slow-late-%: it began while the previous commit's sync was in flight
//     (its caller came back late from its previous append), so it waited
//     for the rest of that sync and then its own;
//   - slow-sync-%: its commit's write+sync alone took more than 3/4 of
//     limit (the disk);
//   - slow-gather-%: from its start to its commit's write took more than
//     the previous commit's sync left to wait (the gather lingered or the
//     committer was not scheduled);
//   - slow-wake-%: the rest: its caller ran late after the answer.
//
// The percentages are of all appends; slow-% is their sum. The mean
// phases of slow appends (wait to the write, write+sync, answer to return)
// are reported in µs.
func reportSlow(b *testing.B, samples []appendSample, commits []commitTrace, start time.Time, limit time.Duration) {
	if len(commits) == 0 {
		return
	}
	firsts := make([]uint64, len(commits))
	for i, c := range commits {
		firsts[i] = c.first
	}
	var miss, late, slowSync, gather, wake, slow int
	var wWait, wSync, wWake time.Duration
	for _, s := range samples {
		if s.lat <= limit {
			continue
		}
		slow++
		ci, found := slices.BinarySearch(firsts, s.index)
		if !found {
			ci--
		}
		c := commits[ci]
		began := start.Add(s.began)
		end := began.Add(s.lat)
		wait, sync, wk := c.written.Sub(began), c.synced.Sub(c.written), end.Sub(c.synced)
		wWait, wSync, wWake = wWait+wait, wSync+sync, wWake+wk
		switch {
		case ci > 0 && began.Before(commits[ci-1].written):
			miss++
		case ci > 0 && began.Before(commits[ci-1].synced):
			late++
		case sync > limit*3/4:
			slowSync++
		case wk < wait:
			gather++
		default:
			wake++
		}
	}
	pct := func(k int) float64 { return 100 * float64(k) / float64(len(samples)) }
	b.ReportMetric(pct(slow), "slow-%")
	b.ReportMetric(pct(miss), "slow-miss-%")
	b.ReportMetric(pct(late), "slow-late-%")
	b.ReportMetric(pct(slowSync), "slow-sync-%")
	b.ReportMetric(pct(gather), "slow-gather-%")
	b.ReportMetric(pct(wake), "slow-wake-%")
	if slow > 0 {
		us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(slow) }
		b.ReportMetric(us(wWait), "slow-wait-µs")
		b.ReportMetric(us(wSync), "slow-sync-µs")
		b.ReportMetric(us(wWake), "slow-wake-µs")
	}
}
