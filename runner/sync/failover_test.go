package sync

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"log/slog"
	"math/big"
	"net"
	stdsync "sync"
	"testing"
	"time"

	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

type lockedBuf struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestRunTriesEveryAddressBeforeBackingOff points a client at two silent
// replicas (UDP sockets that never answer): it tries the first, moves to
// the second at once, and only then backs off, starting again from the
// first.
func TestRunTriesEveryAddressBeforeBackingOff(t *testing.T) {
	var addrs []string
	for range 2 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		addrs = append(addrs, pc.LocalAddr().String())
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	cfg := DefaultConfig()
	cfg.Address, cfg.Alternates = addrs[0], []string{addrs[1], addrs[0]} // a repeat is ignored
	cfg.DialTimeout, cfg.BackoffMin, cfg.BackoffMax = 200*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
	var logs lockedBuf
	dir := t.TempDir()
	ob, err := OpenDirOutbox(dir+"/out", 0)
	if err != nil {
		t.Fatal(err)
	}
	in, err := OpenDirInbox(dir + "/in")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, ca, Deps{Outbox: ob, Inbox: in, Scope: nopScope{},
		Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	var events []string
	logs.mu.Lock()
	dec := json.NewDecoder(&logs.b)
	for {
		var m map[string]any
		if dec.Decode(&m) != nil {
			break
		}
		switch m["msg"] {
		case "control plane replica unreachable; trying the next":
			events = append(events, "next:"+m["address"].(string)+">"+m["next"].(string))
		case "control plane unreachable; working offline":
			events = append(events, "offline")
		}
	}
	logs.mu.Unlock()
	want := []string{"next:" + addrs[0] + ">" + addrs[1], "offline", "next:" + addrs[0] + ">" + addrs[1], "offline"}
	if len(events) < len(want) {
		t.Fatalf("events = %v, want at least %v", events, want)
	}
	for i, w := range want {
		if events[i] != w {
			t.Fatalf("events = %v, want them to start with %v", events, want)
		}
	}
}

type nopScope struct{}

func (nopScope) InUse() uint64                                { return 0 }
func (nopScope) Offer(context.Context, *pb.ScopeBundle) error { return nil }
