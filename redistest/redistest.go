// Package redistest starts Debian's redis-server for tests: on a free loopback port, in a
// temporary directory, stopped when the test ends. A test that needs it is skipped when
// redis-server is not on PATH, unless CLEANROOM_TEST_REQUIRE_REDIS=1 (as .ci/run sets), which
// makes it fail instead.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// EnvRequire, set to 1, makes a test that needs redis-server fail instead of skipping without it.
const EnvRequire = "CLEANROOM_TEST_REQUIRE_REDIS"

// Server is a running redis-server.
type Server struct {
	// Addr is host:port.
	Addr string
	path string
	dir  string
	args []string
	cmd  *exec.Cmd
}

// Options configures Start.
type Options struct {
	// Persistent turns the append-only file on, fsynced at every write, so that the data
	// survives Kill and Restart.
	Persistent bool
	// MaxMemory, when set, is the server's maxmemory (e.g. "64mb").
	MaxMemory string
}

// Start starts redis-server (or skips the test; see the package comment).
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal("CLEANROOM_TEST_REQUIRE_REDIS=1 but no redis-server on PATH (apt-get install redis-server)")
		}
		t.Skip("no redis-server (apt-get install redis-server; CLEANROOM_TEST_REQUIRE_REDIS=1 makes this fail)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), path: path, dir: t.TempDir()}
	s.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--dir", s.dir, "--io-threads", "1"}
	if opt.Persistent {
		s.args = append(s.args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		s.args = append(s.args, "--appendonly", "no")
	}
	if opt.MaxMemory != "" {
		s.args = append(s.args, "--maxmemory", opt.MaxMemory, "--maxmemory-policy", "volatile-ttl")
	}
	t.Cleanup(s.Kill)
	s.Restart(t)
	return s
}

// URL returns the server's redis:// URL for database db.
func (s *Server) URL(db int) string { return fmt.Sprintf("redis://%s/%d", s.Addr, db) }

// Kill stops the server with SIGKILL and waits for it (nothing happens when it is stopped).
func (s *Server) Kill() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts the server again on the same port and directory and waits until it accepts
// connections.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	cmd := exec.Command(s.path, s.args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	for range 200 {
		if c, err := net.Dial("tcp", s.Addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
}
