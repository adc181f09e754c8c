package postgres_test

import (
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/postgres"
	"github.com/cleanroom-oss/cleanroom/sqlstore"
	"github.com/cleanroom-oss/cleanroom/storetest"
)

// The suite runs when $CLEANROOM_TEST_POSTGRES names a database (.ci/run starts one); each store
// lives in a schema of its own.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cleanroom.Store { return postgres.MustOpenTest(t) })
}

func TestConcurrentOpen(t *testing.T) {
	// Instances starting at once on an empty schema take turns migrating; none fails.
	cfg := postgres.TestSchema(t)
	dbs := make([]*postgres.DB, 4)
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = postgres.OpenConfig(t.Context(), cfg) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
			continue
		}
		if err := dbs[i].Ready(t.Context()); err != nil {
			t.Errorf("instance %d: Ready: %v", i, err)
		}
		dbs[i].Close()
	}
}

func TestOpenBadDSN(t *testing.T) {
	if _, err := postgres.Open(t.Context(), "postgres://u:secret@127.0.0.1:1/x?sslmode=bogus"); err == nil {
		t.Fatal("Open with a malformed DSN succeeded")
	}
}

func TestTwoInstancesShareTheQueue(t *testing.T) {
	cfg := postgres.TestSchema(t)
	var stores []cleanroom.Store
	for range 2 {
		db, err := postgres.OpenConfig(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, db)
	}
	storetest.ConcurrentClaims(t, 2, stores...)
}

func TestSerialJobsAcrossInstances(t *testing.T) {
	cfg := postgres.TestSchema(t)
	var stores []cleanroom.Store
	for range 2 {
		db, err := postgres.OpenConfig(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores = append(stores, db)
	}
	storetest.ConcurrentSerialClaims(t, 3, stores...)
}

func TestMigratedBridges(t *testing.T) {
	cfg := postgres.TestSchema(t)
	raw := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { raw.Close() })
	sub := fstest.MapFS{}
	names, _ := fs.Glob(postgres.Migrations, "*.sql")
	for _, n := range names {
		var v int
		fmt.Sscanf(n, "%d_", &v)
		if v <= 5 {
			b, _ := fs.ReadFile(postgres.Migrations, n)
			sub[n] = &fstest.MapFile{Data: b}
		}
	}
	old, err := sqlstore.New(postgres.Dialect, raw, raw, sub)
	if err == nil {
		err = old.Migrate(t.Context())
	}
	if err != nil {
		t.Fatal(err)
	}
	storetest.MigratedBridges(t, raw, sqlstore.DollarPlaceholders, func() cleanroom.Store {
		s, err := sqlstore.New(postgres.Dialect, raw, raw, postgres.Migrations)
		if err == nil {
			err = s.Migrate(t.Context())
		}
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
