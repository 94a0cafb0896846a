package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options tunes the test server.
type Options struct {
	// Durable keeps PostgreSQL's durability settings (fsync, synchronous
	// commit, full page writes). Off by default: tests need speed, not crash
	// safety; benchmarks that report durable-write latency turn it on.
	Durable bool
	// MaxConnections is the server's max_connections (default 100).
	MaxConnections int
}

// Server is a running PostgreSQL server.
type Server struct {
	dir   string
	cmd   *exec.Cmd
	done  chan error
	n     atomic.Int64
	stopd atomic.Bool
}

// startTimeout bounds initdb plus the server's start.
const startTimeout = 60 * time.Second

// Start starts a server and stops it (removing its files) when t ends.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	s, err := start(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// binDir finds the newest Debian PostgreSQL installation, or the directory
// of postgres on PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgtest: no PostgreSQL server found (/usr/lib/postgresql/*/bin/postgres); install it with .ci/deps.sh (Debian package postgresql)")
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func start(opt Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	uid, gid, err := serverUser()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parent is private to the test's user, and the
	// server may run as another one.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, done: make(chan error, 1)}
	fail := func(err error) (*Server, error) {
		s.kill()
		os.RemoveAll(dir)
		return nil, err
	}
	if err := chown(dir, uid, gid); err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "-N")
	initdb.SysProcAttr = runAs(uid, gid)
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w\n%s", err, out))
	}
	maxConns := opt.MaxConnections
	if maxConns <= 0 {
		maxConns = 100
	}
	args := []string{"-D", data, "-k", dir, "-p", "5432", "-c", "listen_addresses=",
		"-c", "max_connections=" + strconv.Itoa(maxConns), "-c", "shared_buffers=64MB"}
	if !opt.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	defer logf.Close()
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	s.cmd.SysProcAttr = runAs(uid, gid)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("pgtest: start postgres: %w", err))
	}
	go func() { s.done <- s.cmd.Wait() }()
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return s, nil
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			return fail(fmt.Errorf("pgtest: postgres exited: %v\n%s", werr, s.log()))
		case <-ctx.Done():
			return fail(fmt.Errorf("pgtest: postgres not ready after %s: %v\n%s", startTimeout, err, s.log()))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// DSN returns the connection string of a database on the server (user
// postgres, no password, over the Unix socket).
func (s *Server) DSN(database string) string {
	q := url.Values{"host": {s.dir}, "port": {"5432"}, "sslmode": {"disable"}}
	return "postgres://postgres@/" + url.PathEscape(database) + "?" + q.Encode()
}

// CreateDatabase creates a new, empty database and returns its DSN.
func (s *Server) CreateDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("t%d", s.n.Add(1))
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.DSN(name)
}

// Stop shuts the server down (fast shutdown, then kill after 15 s) and
// removes its files. Calling it again does nothing.
func (s *Server) Stop() error {
	if s.stopd.Swap(true) {
		return nil
	}
	defer os.RemoveAll(s.dir)
	if err := s.cmd.Process.Signal(stopSignal()); err != nil {
		return nil // already gone
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(15 * time.Second):
		s.kill()
		<-s.done
		return errors.New("postgres did not stop within 15s of SIGINT; killed it")
	}
}

func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}

// Dir is the server's directory (data directory, socket, server.log).
func (s *Server) Dir() string { return s.dir }

// Log returns the end of the server's log, for failure messages.
func (s *Server) Log() string { return strings.TrimSpace(s.log()) }

// TerminateListeners ends every session of the server that is waiting in
// LISTEN, as a database restart or failover would, and returns how many.
func (s *Server) TerminateListeners(t testing.TB) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND query ILIKE 'LISTEN %'`).Scan(&n); err != nil {
		t.Fatalf("pgtest: terminate listeners: %v", err)
	}
	return n
}
