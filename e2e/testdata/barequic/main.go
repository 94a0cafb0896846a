// Command barequic is the baseline of BenchmarkControlPlaneIdleMemory: a
// bare quic-go server in its own process, with the control plane's TLS
// setup (TLS 1.3, mutual certificates) and quic-go's default settings. It
// accepts each connection's first stream, answers the runner's Hello with
// a Welcome (so the benchmark's simulated sites work unchanged), keeps the
// stream open and runs nothing else per connection: what quic-go alone
// costs per idle connection. It prints "addr HOST:PORT" on stdout and
// stops when stdin closes.
//
// It lives under testdata so that only the benchmark builds it.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "barequic:", err)
		os.Exit(1)
	}
}

func run() error {
	certFile := flag.String("cert", "", "server certificate chain, PEM")
	keyFile := flag.String("key", "", "server key, PEM")
	caFile := flag.String("ca", "", "CA that signs client certificates, PEM")
	flag.Parse()
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("%s holds no certificate", *caFile)
	}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, NextProtos: []string{protocol.ALPN}},
		&quic.Config{MaxIdleTimeout: 2 * time.Minute})
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Printf("addr %s\n", ln.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var mu sync.Mutex
	var held []*quic.Stream
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return nil
		}
		go func() {
			hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
			defer hcancel()
			st, err := conn.AcceptStream(hctx)
			if err != nil {
				return
			}
			if _, err := protocol.ReadMessage(st, 0); err != nil {
				return
			}
			if err := protocol.WriteMessage(st, &pb.Welcome{ProtocolVersion: 1}, 0); err != nil {
				return
			}
			mu.Lock()
			held = append(held, st)
			mu.Unlock()
		}()
	}
}
