// Package benchenv holds what the project's benchmarks and opt-in measurements share: their
// settings from the environment and the process's CPU time (on a shared machine the cost of
// the work, told apart from the wait for a core). Only tests import it.
package benchenv

import (
	"os"
	"strconv"
	"testing"
)

// Int returns the positive integer setting name of a benchmark, def when it is not set; a value
// that is not a positive integer fails tb.
func Int(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}
