package e2e

import (
	"math/rand/v2"
	"net"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpProxy relays UDP between runners and a control plane and misbehaves
// on request: it drops, delays and reorders datagrams, or cuts the link.
// The real QUIC stacks on both sides must cope.
type udpProxy struct {
	ln       *net.UDPConn
	upstream *net.UDPAddr

	dropPct  atomic.Int64 // percent of datagrams dropped, each direction
	maxDelay atomic.Int64 // nanoseconds; each datagram waits a random part of it
	reorder  atomic.Bool  // hold every other datagram back behind the next
	cut      atomic.Bool  // drop everything

	mu    stdsync.Mutex
	peers map[string]*net.UDPConn // client address → socket towards upstream
	held  map[string][]byte
	rnd   *rand.Rand
	done  chan struct{}
	wg    stdsync.WaitGroup
}

func startProxy(t testing.TB, upstream string) *udpProxy {
	t.Helper()
	up, err := net.ResolveUDPAddr("udp", upstream)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProxy{ln: ln, upstream: up, peers: map[string]*net.UDPConn{}, held: map[string][]byte{},
		rnd: rand.New(rand.NewPCG(1, 2)), done: make(chan struct{})}
	p.wg.Add(1)
	go p.fromClients()
	t.Cleanup(p.close)
	return p
}

func (p *udpProxy) addr() string { return p.ln.LocalAddr().String() }

func (p *udpProxy) close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.peers {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// forward decides a datagram's fate: dropped, or sent by send after a
// random delay, possibly held back behind the next one of the same flow.
func (p *udpProxy) forward(key string, b []byte, send func([]byte)) {
	if p.cut.Load() {
		return
	}
	p.mu.Lock()
	drop := p.rnd.Int64N(100) < p.dropPct.Load()
	var delay time.Duration
	if d := p.maxDelay.Load(); d > 0 {
		delay = time.Duration(p.rnd.Int64N(d))
	}
	var release []byte
	if p.reorder.Load() {
		if prev, ok := p.held[key]; ok {
			delete(p.held, key)
			release = prev
		} else if p.rnd.IntN(2) == 0 {
			p.held[key] = append([]byte(nil), b...)
			p.mu.Unlock()
			return
		}
	}
	p.mu.Unlock()
	if drop {
		return
	}
	b = append([]byte(nil), b...)
	out := func() {
		send(b)
		if release != nil {
			send(release)
		}
	}
	if delay == 0 {
		out()
		return
	}
	time.AfterFunc(delay, out)
}

func (p *udpProxy) fromClients() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.ln.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		up, ok := p.peers[from.String()]
		if !ok {
			up, err = net.DialUDP("udp", nil, p.upstream)
			if err != nil {
				p.mu.Unlock()
				continue
			}
			p.peers[from.String()] = up
			p.wg.Add(1)
			go p.fromUpstream(up, from)
		}
		p.mu.Unlock()
		p.forward("up "+from.String(), buf[:n], func(b []byte) { _, _ = up.Write(b) })
	}
}

func (p *udpProxy) fromUpstream(up *net.UDPConn, client *net.UDPAddr) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := up.Read(buf)
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			// The control plane is down (ICMP refused): keep the socket,
			// it comes back on the same port.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		p.forward("down "+client.String(), buf[:n], func(b []byte) { _, _ = p.ln.WriteToUDP(b, client) })
	}
}
