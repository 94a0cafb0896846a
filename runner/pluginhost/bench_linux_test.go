package pluginhost

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// rawPlugin dispenses the bare gRPC connection to the rawecho baseline.
type rawPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (rawPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (rawPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, cc *grpc.ClientConn) (any, error) {
	return cc, nil
}

// startRawEcho starts the baseline the way go-plugin's examples do:
// exec.Command, gRPC, AutoMTLS; no pin check, no containment, no SDK.
func startRawEcho(b *testing.B) (*grpc.ClientConn, func()) {
	b.Helper()
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.HandshakeConfig(),
		Plugins:          plugin.PluginSet{"echo": rawPlugin{}},
		Cmd:              exec.Command(rawEchoBin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Logger:           hclog.NewNullLogger(),
		Stderr:           io.Discard,
	})
	rpc, err := c.Client()
	if err != nil {
		c.Kill()
		b.Fatal(err)
	}
	raw, err := rpc.Dispense("echo")
	if err != nil {
		c.Kill()
		b.Fatal(err)
	}
	return raw.(*grpc.ClientConn), c.Kill
}

// BenchmarkWarmCall measures a call through the Host (concurrency slot,
// schema check of params and result, deadline + grace, SDK server
// validation) against a raw go-plugin gRPC echo of the same payload. The
// two alternate in blocks of warmBlock calls: each is measured warm (back
// to back calls to one process, as a busy agent makes them), and both see
// the same machine load.
// ns/op is the Host call's mean; host-p50-ns and raw-p50-ns the medians;
// x-raw the ratio of the medians (target <= 1.3); cpu-x-raw the ratio of
// the runner's CPU time spent per call on each path.
func BenchmarkWarmCall(b *testing.B) {
	cfg := testConfig(b, "faulty")
	h, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	cc, stop := startRawEcho(b)
	defer stop()
	ctx := context.Background()
	req := sdk.Request{Operation: "faulty.echo", Params: json.RawMessage(`{"text":"warm call round trip"}`)}
	in := wrapperspb.Bytes(req.Params)
	out := new(wrapperspb.BytesValue)
	// Warm both up.
	for range 50 {
		if _, err := h.Execute(ctx, req); err != nil {
			b.Fatal(err)
		}
		if err := cc.Invoke(ctx, "/bench.Echo/Echo", in, out); err != nil {
			b.Fatal(err)
		}
	}
	hostNs := make([]time.Duration, 0, b.N)
	rawNs := make([]time.Duration, 0, b.N)
	var hostCPU, rawCPU time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(warmBlock, b.N-done)
		c0 := selfCPU()
		for range k {
			t0 := time.Now()
			if _, err := h.Execute(ctx, req); err != nil {
				b.Fatal(err)
			}
			hostNs = append(hostNs, time.Since(t0))
		}
		c1 := selfCPU()
		for range k {
			t0 := time.Now()
			if err := cc.Invoke(ctx, "/bench.Echo/Echo", in, out); err != nil {
				b.Fatal(err)
			}
			rawNs = append(rawNs, time.Since(t0))
		}
		c2 := selfCPU()
		hostCPU += c1 - c0
		rawCPU += c2 - c1
		done += k
	}
	b.StopTimer()
	var hostSum time.Duration
	for _, d := range hostNs {
		hostSum += d
	}
	b.ReportMetric(float64(hostSum.Nanoseconds())/float64(b.N), "ns/op")
	// Medians: on a shared machine a descheduled call is an outlier that
	// says nothing about either path.
	hostMed, rawMed := median(hostNs), median(rawNs)
	b.ReportMetric(float64(hostMed.Nanoseconds()), "host-p50-ns")
	b.ReportMetric(float64(rawMed.Nanoseconds()), "raw-p50-ns")
	b.ReportMetric(float64(hostMed)/float64(rawMed), "x-raw")
	// The runner's own CPU per call, host path vs raw path.
	b.ReportMetric(float64(hostCPU)/float64(rawCPU), "cpu-x-raw")
}

// selfCPU is this process's user + system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// warmBlock is how many calls each path makes before the other takes over.
const warmBlock = 50

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkColdStart measures a first call's start: pin check (hash into a
// sealed memfd), contained exec, rlimits, AutoMTLS handshake and Describe
// (target <= 150 ms). The kill after each start is not timed.
func BenchmarkColdStart(b *testing.B) {
	cfg := testConfig(b, "faulty")
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		h, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := h.Describe(ctx, "faulty"); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
		b.StopTimer()
		h.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
}
