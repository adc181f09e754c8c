// Package storetest is the one test suite for cleanroom.Store implementations: every backend
// runs Run against itself, so the SQLite and PostgreSQL stores are held to the same behaviour.
//
// Tests use fixed times (injected through the methods' now parameters) and fixed, sortable IDs,
// so every expectation is exact.
package storetest

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
)

// Open returns a fresh, empty, migrated store for one test and arranges for it to be closed when
// the test ends. Calling Close before that must be harmless.
type Open func(t *testing.T) cleanroom.Store

// SQLStore is implemented by stores over database/sql (sqlstore.DB). When the store under test
// implements it, Run also checks what only SQL can try, such as the audit table refusing
// UPDATE and DELETE.
type SQLStore interface {
	cleanroom.Store
	SQL() *sql.DB
}

// Run runs the suite against the stores that open returns. Every subtest opens its own store, and
// subtests run in parallel.
func Run(t *testing.T, open Open) {
	t.Run("Orgs", func(t *testing.T) { runCases(t, open, orgCases) })
	t.Run("Users", func(t *testing.T) { runCases(t, open, userCases) })
	t.Run("Memberships", func(t *testing.T) { runCases(t, open, membershipCases) })
	t.Run("Invitations", func(t *testing.T) { runCases(t, open, invitationCases) })
	t.Run("Tokens", func(t *testing.T) { runCases(t, open, tokenCases) })
	t.Run("Sessions", func(t *testing.T) { runCases(t, open, sessionCases) })
	t.Run("Audit", func(t *testing.T) { runCases(t, open, auditCases) })
	t.Run("Jobs", func(t *testing.T) { runCases(t, open, jobCases) })
	t.Run("Connections", func(t *testing.T) { runCases(t, open, connectionCases) })
	t.Run("StandardOptOuts", func(t *testing.T) { runCases(t, open, optOutCases) })
	t.Run("DataSources", func(t *testing.T) { runCases(t, open, dataSourceCases) })
	t.Run("Grants", func(t *testing.T) { runCases(t, open, grantCases) })
	t.Run("ProvisionalAccess", func(t *testing.T) { runCases(t, open, provisionalCases) })
	t.Run("Cascades", func(t *testing.T) { runCases(t, open, cascadeCases) })
	t.Run("Uploads", func(t *testing.T) { runCases(t, open, uploadCases) })
	t.Run("UploadParts", func(t *testing.T) { runCases(t, open, uploadPartCases) })
	t.Run("Taxonomies", func(t *testing.T) { runCases(t, open, taxonomyCases) })
	t.Run("Versions", func(t *testing.T) { runCases(t, open, versionCases) })
	t.Run("IngestCascades", func(t *testing.T) { runCases(t, open, ingestCascadeCases) })
	t.Run("UploadRemoval", func(t *testing.T) { runCases(t, open, uploadRemovalCases) })
	t.Run("Bridges", func(t *testing.T) { runCases(t, open, bridgeCases) })
	t.Run("SerialJobs", func(t *testing.T) { runCases(t, open, serialJobCases) })
	t.Run("ConcurrentSerialJobs", func(t *testing.T) { runCases(t, open, concurrentSerialCases) })
	t.Run("Cohorts", func(t *testing.T) { runCases(t, open, cohortCases) })
	t.Run("Activation", func(t *testing.T) { runCases(t, open, activationCases) })
	t.Run("Privacy", func(t *testing.T) { runCases(t, open, privacyCases) })
	t.Run("Imports", func(t *testing.T) { runCases(t, open, importCases) })
	t.Run("Leases", func(t *testing.T) { runCases(t, open, leaseCases) })
	t.Run("Facts", func(t *testing.T) { runCases(t, open, factCases) })
	t.Run("WrappedKeys", func(t *testing.T) { runCases(t, open, keyCases) })
	t.Run("Store", func(t *testing.T) { runCases(t, open, storeCases) })
}

// testCase is one subtest; it gets a store of its own.
type testCase struct {
	name string
	test func(t *testing.T, s cleanroom.Store)
}

func runCases(t *testing.T, open Open, cases []testCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, open(t))
		})
	}
}

// t0 is the suite's "now". It has nanoseconds so that the stores' truncation to microseconds shows.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

// at returns t0 + d, truncated to microseconds like every stored time.
func at(d time.Duration) time.Time { return cleanroom.UTC(t0.Add(d)) }

// uid returns the n-th canonical UUID of a kind of object. IDs sort by (kind, n), as UUIDv7s sort
// by creation time.
func uid(kind, n int) string { return fmt.Sprintf("0190%04x-0000-7000-8000-%012x", kind, n) }

// Kinds of IDs.
const (
	kindOrg = iota + 1
	kindUser
	kindToken
)

func orgID(n int) string   { return uid(kindOrg, n) }
func userID(n int) string  { return uid(kindUser, n) }
func tokenID(n int) string { return uid(kindToken, n) }

// ok fails the test now if err is not nil.
func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantCode fails the test unless err has the given code (nil has none).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := cleanroom.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

// same fails the test if got differs from want.
func same(t *testing.T, what string, want, got any) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

// collectPages calls list page by page with the given limit until the cursor runs out, and
// returns every item and the number of pages. It fails the test after 100 pages.
func collectPages[T any](t *testing.T, limit int, list func(cleanroom.Page) ([]T, string, error)) ([]T, int) {
	t.Helper()
	var (
		all   []T
		after string
	)
	for pages := 1; pages <= 100; pages++ {
		items, next, err := list(cleanroom.Page{After: after, Limit: limit})
		ok(t, err)
		if len(items) > limit {
			t.Fatalf("page %d has %d items, limit %d", pages, len(items), limit)
		}
		all = append(all, items...)
		if next == "" {
			return all, pages
		}
		if len(items) == 0 {
			t.Fatalf("page %d is empty but has a next cursor", pages)
		}
		after = next
	}
	t.Fatalf("more than 100 pages")
	return nil, 0
}

// storeCases test the Store as a whole.
var storeCases = []testCase{
	{"ready until closed", func(t *testing.T, s cleanroom.Store) {
		ok(t, s.Ready(t.Context()))
		ok(t, s.Close())
		wantCode(t, s.Ready(t.Context()), cleanroom.EUNAVAILABLE)
	}},
}
