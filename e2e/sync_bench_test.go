package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// benchSites is how many simulated sites the fleet benchmark connects:
// $SITEWARDEN_BENCH_SITES, default 2,000 (about a minute of set-up on two
// shared cores, both ends in one process).
func benchSites(b *testing.B) int {
	if s := os.Getenv("SITEWARDEN_BENCH_SITES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("SITEWARDEN_BENCH_SITES=%q", s)
		}
		return n
	}
	return 2000
}

// siteCert mints a site certificate straight from the plane's CA (the
// enrollment path is measured elsewhere).
func siteCert(b *testing.B, p *plane, client, site string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	c, err := p.ca.SignSite(csr, store.Identity{Tenant: "msp", Client: client, Site: site}, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
}

// lightSite is a minimal sync peer: hello, then on every scope Notify it
// fetches the bundle and reports its version.
// lightFleet connects n light sites, 32 at a time; site i dials the address
// and uses the certificate site(i) names. A site counts in reached when it
// fetches the version want holds.
func lightFleet(ctx context.Context, b *testing.B, n int, site func(i int) (string, tls.Certificate), pool *x509.CertPool, want *atomic.Uint64, reached *atomic.Int64) []*quic.Conn {
	conns := make([]*quic.Conn, n)
	var wg stdsync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			addr, cert := site(i)
			c, err := lightSite(ctx, b, addr, cert, pool, func(v uint64) {
				if v == want.Load() {
					reached.Add(1)
				}
			})
			if err != nil {
				b.Error(err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	return conns
}

func lightSite(ctx context.Context, b *testing.B, addr string, cert tls.Certificate, pool *x509.CertPool, got func(uint64)) (*quic.Conn, error) {
	conn, err := quic.DialAddr(ctx, addr, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{protocol.ALPN}}, &quic.Config{MaxIdleTimeout: time.Minute, KeepAlivePeriod: 20 * time.Second})
	if err != nil {
		return nil, err
	}
	ctrl, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	if err := protocol.WriteMessage(ctrl, &pb.Hello{ProtocolVersions: []uint32{1}}, 0); err != nil {
		return nil, err
	}
	if _, err := protocol.ReadMessage(ctrl, 0); err != nil {
		return nil, err
	}
	go func() {
		for {
			m, err := protocol.ReadMessage(ctrl, 0)
			if err != nil {
				return
			}
			if n, ok := m.(*pb.Notify); ok && n.GetTopic() == rsync.TopicScope {
				st, err := conn.OpenStreamSync(ctx)
				if err != nil {
					return
				}
				_ = protocol.WriteMessage(st, &pb.ScopeRequest{}, 0)
				st.Close()
				if m, err := protocol.ReadMessage(st, 0); err == nil {
					if bundle, ok := m.(*pb.ScopeBundle); ok {
						got(bundle.GetVersion())
					}
				}
				st.CancelRead(0)
			}
		}
	}()
	return conn, nil
}

func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// BenchmarkSyncFleet connects many simulated sites to one control plane
// (real SQLite store, real QUIC on loopback) and measures: memory per idle
// site connection (both ends live in this process, so the figure covers
// the site's end too), against a bare quic-go baseline of the same number
// of connections with one open stream each (reported as ratio); and, per
// iteration, the time for a scope change to reach every site (Notify, then
// each site fetches the bundle).
func BenchmarkSyncFleet(b *testing.B) {
	n := benchSites(b)
	p := startPlaneWith(b, planeOpts{sync: func(c *syncserver.Config) {
		c.HeartbeatInterval = 30 * time.Second
		c.IdleTimeout = 2 * time.Minute
		c.RetryAbove = 1 << 20
	}})
	certs := make([]tls.Certificate, n)
	for i := range n {
		certs[i] = siteCert(b, p, "acme", fmt.Sprintf("s%04d", i))
	}
	baseline := baselineQUIC(b, p, certs)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reached atomic.Int64
	var want atomic.Uint64
	before := heapNow()
	conns := lightFleet(ctx, b, n, func(i int) (string, tls.Certificate) { return p.addr, certs[i] }, p.ca.Pool(), &want, &reached)
	if b.Failed() {
		return
	}
	deadline := time.Now().Add(time.Minute)
	for p.sync.Connected() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	perConn := float64(heapNow()-before) / float64(n)

	var worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := uint64(i + 1)
		reached.Store(0)
		want.Store(v)
		start := time.Now()
		p.publishScope(b, "acme", v)
		for reached.Load() < int64(n) {
			if time.Since(start) > time.Minute {
				b.Fatalf("scope v%d reached %d of %d sites in a minute", v, reached.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
		worst = max(worst, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst-fanout")
	b.ReportMetric(float64(n), "sites")
	b.ReportMetric(perConn/1024, "KiB/idle-site(both-ends)")
	b.ReportMetric(baseline/1024, "KiB/bare-quic-conn(both-ends)")
	b.ReportMetric(perConn/baseline, "ratio-vs-bare-quic")
	for _, c := range conns {
		c.CloseWithError(0, "")
	}
}

// baselineQUIC returns heap bytes per bare quic-go connection (client and
// server in this process) with one stream open, the same TLS certificates.
func baselineQUIC(b *testing.B, p *plane, certs []tls.Certificate) float64 {
	cert, err := p.ca.ServerCert([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.ca.Pool(), NextProtos: []string{"bench"}}, &quic.Config{MaxIdleTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var server []*quic.Stream
	var mu stdsync.Mutex
	go func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				st, err := c.AcceptStream(ctx)
				if err == nil {
					buf := make([]byte, 1)
					_, _ = st.Read(buf)
					mu.Lock()
					server = append(server, st)
					mu.Unlock()
				}
			}()
		}
	}()
	before := heapNow()
	conns := make([]*quic.Conn, len(certs))
	for i, c := range certs {
		conn, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{c},
			RootCAs: p.ca.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"bench"}}, &quic.Config{MaxIdleTimeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		st, _ := conn.OpenStreamSync(ctx)
		_, _ = st.Write([]byte{1})
		conns[i] = conn
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		k := len(server)
		mu.Unlock()
		if k == len(certs) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	per := float64(heapNow()-before) / float64(len(certs))
	for _, c := range conns {
		c.CloseWithError(0, "")
	}
	return per
}

// timedOutbox records when each item entered and when the control plane
// acknowledged it (after its durable write).
type timedOutbox struct {
	*rsync.DirOutbox
	mu    stdsync.Mutex
	added map[string]time.Time
	lat   []time.Duration
}

func (o *timedOutbox) Add(ctx context.Context, it rsync.Item) error {
	o.mu.Lock()
	o.added[it.ID] = time.Now()
	o.mu.Unlock()
	return o.DirOutbox.Add(ctx, it)
}

func (o *timedOutbox) Done(ctx context.Context, it rsync.Item) error {
	o.mu.Lock()
	if t, ok := o.added[it.ID]; ok {
		o.lat = append(o.lat, time.Since(t))
	}
	o.mu.Unlock()
	return o.DirOutbox.Done(ctx, it)
}

// BenchmarkSyncEscalationDurable measures, per escalation, the time from
// the runner raising it (durable outbox write included) to the control
// plane's Ack of its durable store write (SQLite, synchronous=FULL), on
// loopback; p50 and p99 are reported.
func BenchmarkSyncEscalationDurable(b *testing.B) {
	p := startPlane(b, 0)
	dir := enrollSite(b, p, "acme", "hq")
	creds := mustLoad(b, dir)
	base, err := rsync.OpenDirOutbox(filepath.Join(dir, "outbox"), 0)
	if err != nil {
		b.Fatal(err)
	}
	ob := &timedOutbox{DirOutbox: base, added: map[string]time.Time{}}
	in, _ := rsync.OpenDirInbox(filepath.Join(dir, "inbox"))
	sc, _ := rsync.OpenScopeCache(filepath.Join(dir, "scope"), creds.ScopeKey, "acme", nil)
	cfg := rsync.DefaultConfig()
	cfg.Address = creds.Address
	cl, err := rsync.New(cfg, creds.Cert, creds.CA, rsync.Deps{Outbox: ob, Inbox: in, Scope: sc})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.Run(ctx)
	eventually(b, 10*time.Second, "connected", cl.Connected)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		it, _ := rsync.NewItem(escalation("acme", "hq", i))
		if err := ob.Add(ctx, it); err != nil {
			b.Fatal(err)
		}
		cl.Kick()
		for ob.Len() > 0 {
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	ob.mu.Lock()
	lat := slices.Clone(ob.lat)
	ob.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50")
		b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "ms-p99")
	}
}

// BenchmarkRunnerIdle starts the real sitewarden-runner binary, enrolled,
// against an in-process control plane, and measures start-to-ready (exec
// to the "runner ready" log line), start-to-connected, and after it has
// sat idle and connected for 10 s: RSS and CPU (share of one core).
func BenchmarkRunnerIdle(b *testing.B) {
	p := startPlane(b, 0)
	for i := 0; i < b.N; i++ {
		dir := enrollSite(b, p, "acme", fmt.Sprintf("idle%d", i))
		start := time.Now()
		cmd := exec.Command(bin(b, "sitewarden-runner"), "run", "--state", dir, "--for", "60s")
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		var ready, connected time.Duration
		var seen []string
		sc := bufio.NewScanner(stderr)
		for connected == 0 && sc.Scan() {
			seen = append(seen, sc.Text())
			switch {
			case strings.Contains(sc.Text(), `"msg":"runner ready"`):
				ready = time.Since(start)
			case strings.Contains(sc.Text(), `"msg":"connected to control plane"`):
				connected = time.Since(start)
			}
		}
		if connected == 0 {
			cmd.Wait()
			b.Fatalf("runner never connected:\n%s", strings.Join(seen, "\n"))
		}
		go func() {
			for sc.Scan() {
			}
		}()
		t0, c0 := procCPU(b, cmd.Process.Pid)
		time.Sleep(10 * time.Second) // CPU ticks are 10 ms: 0.1% resolution

		t1, c1 := procCPU(b, cmd.Process.Pid)
		rss := procRSS(b, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		b.ReportMetric(float64(ready.Microseconds())/1000, "ms-start-to-ready")
		b.ReportMetric(float64(connected.Microseconds())/1000, "ms-start-to-connected")
		b.ReportMetric(float64(rss)/1024, "MiB-idle-RSS")
		b.ReportMetric(100*(c1-c0)/t1.Sub(t0).Seconds(), "%core-idle")
	}
}

// procCPU returns now and the process's user+system CPU seconds.
func procCPU(b *testing.B, pid int) (time.Time, float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return time.Now(), (ut + st) / 100 // USER_HZ is 100 on Linux
}

// procRSS returns the process's resident set in KiB.
func procRSS(b *testing.B, pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.Atoi(strings.Fields(l)[1])
			return v
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// BenchmarkControlPlaneIdleMemory runs the real control plane binary and
// connects many simulated sites to it from this process; it reports the
// control plane's resident memory growth per idle site connection (VmRSS
// after all connected and settled, minus before, over the count). The
// baseline, measured the same way in the same run, is a bare quic-go
// server process (testdata/barequic: the same TLS setup, one stream per
// connection, nothing else); ratio-vs-bare-quic is control plane over
// baseline.
func BenchmarkControlPlaneIdleMemory(b *testing.B) {
	n := benchSites(b)
	bare := filepath.Join(b.TempDir(), "barequic")
	if out, err := exec.Command("go", "build", "-o", bare, "./testdata/barequic").CombinedOutput(); err != nil {
		b.Fatalf("build the bare quic-go baseline: %v\n%s", err, out)
	}
	for i := 0; i < b.N; i++ {
		state := b.TempDir()
		ln, addr := listenPair(b, "")
		ln.Close()
		cmd := exec.Command(bin(b, "sitewarden"), "server", "--state", state, "--listen", addr, "--http-listen", "127.0.0.1:0", "--heartbeat", "30s", "--for", "10m")
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(stderr)
		for sc.Scan() && !strings.Contains(sc.Text(), `"msg":"control plane ready"`) {
		}
		go func() {
			for sc.Scan() {
			}
		}()
		p := &plane{}
		var err error
		if p.ca, err = loadCA(state); err != nil {
			b.Fatal(err)
		}
		certs := make([]tls.Certificate, n)
		for j := range n {
			certs[j] = siteCert(b, p, "acme", fmt.Sprintf("m%04d", j))
		}
		cp := idleRSSPerConn(b, cmd.Process.Pid, addr, p.ca.Pool(), certs)
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()

		base := startBareQUIC(b, bare, p)
		baseline := idleRSSPerConn(b, base.cmd.Process.Pid, base.addr, p.ca.Pool(), certs)
		base.stop()

		b.ReportMetric(cp, "KiB/idle-site(control-plane-RSS)")
		b.ReportMetric(baseline, "KiB/idle-conn(bare-quic-RSS)")
		b.ReportMetric(cp/baseline, "ratio-vs-bare-quic")
		b.ReportMetric(float64(n), "sites")
	}
}

// idleRSSPerConn connects one site, lets the server settle, then connects
// the rest and returns the server process's VmRSS growth per connection in
// KiB (the first site puts the listener's own buffers in the baseline).
func idleRSSPerConn(b *testing.B, pid int, addr string, pool *x509.CertPool, certs []tls.Certificate) float64 {
	n := len(certs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	warm, err := lightSite(ctx, b, addr, certs[0], pool, func(uint64) {})
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(time.Second)
	before := procRSS(b, pid)
	conns := make([]*quic.Conn, 0, n)
	var mu stdsync.Mutex
	var wg stdsync.WaitGroup
	sem := make(chan struct{}, 32)
	for j := 1; j < n; j++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := lightSite(ctx, b, addr, certs[j], pool, func(uint64) {})
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	after := procRSS(b, pid)
	for _, c := range append(conns, warm) {
		c.CloseWithError(0, "")
	}
	return float64(after-before) / float64(n-1)
}

type bareQUIC struct {
	cmd   *exec.Cmd
	addr  string
	stdin io.Closer
}

func (q bareQUIC) stop() {
	q.stdin.Close()
	done := make(chan struct{})
	go func() { q.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		q.cmd.Process.Kill()
		<-done
	}
}

// startBareQUIC starts the baseline server with a certificate from p's CA.
func startBareQUIC(b *testing.B, exe string, p *plane) bareQUIC {
	cert, err := p.ca.ServerCert([]string{"127.0.0.1"}, time.Now(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var chain []byte
	for _, c := range cert.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c})...)
	}
	for name, data := range map[string][]byte{"cert.pem": chain, "ca.pem": p.ca.PEM(),
		"key.pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command(exe, "-cert", filepath.Join(dir, "cert.pem"), "-key", filepath.Join(dir, "key.pem"), "-ca", filepath.Join(dir, "ca.pem"))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		b.Fatalf("bare quic-go server: first line %q, %v", line, err)
	}
	return bareQUIC{cmd: cmd, addr: addr, stdin: stdin}
}
