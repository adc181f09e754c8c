package postgres_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom/postgres"
)

// TestNotifyReachesListenersOfTheSchema: a notification reaches a listener on the same schema with
// its topic and argument, and not one on another schema (another deployment or test run).
func TestNotifyReachesListenersOfTheSchema(t *testing.T) {
	db := postgres.MustOpenTest(t)
	other := postgres.MustOpenTest(t)
	dsn := func(db *postgres.DB) string {
		var s string
		db.SQL().QueryRow(`SELECT current_schema()`).Scan(&s)
		sep := "?"
		if strings.Contains(os.Getenv(postgres.TestDSNEnv), "?") {
			sep = "&"
		}
		return os.Getenv(postgres.TestDSNEnv) + sep + "search_path=" + s
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type note struct{ topic, arg string }
	got, gotOther := make(chan note, 10), make(chan note, 10)
	ready := make(chan struct{}, 2)
	for _, l := range []struct {
		db  *postgres.DB
		out chan note
	}{{db, got}, {other, gotOther}} {
		lis := &postgres.Listener{DSN: dsn(l.db), Logger: slog.New(slog.DiscardHandler),
			Connected: func() { ready <- struct{}{} },
			Handle:    func(topic, arg string) { l.out <- note{topic, arg} }}
		go lis.Run(ctx)
	}
	<-ready
	<-ready
	if err := db.Notify(ctx, "edge", "publisher-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != (note{"edge", "publisher-1"}) {
			t.Fatalf("got %+v", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("the listener on the schema heard nothing")
	}
	// The other schema's listener hears its own notification, and only that one.
	if err := other.Notify(ctx, "jobs", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-gotOther:
		if n != (note{"jobs", ""}) {
			t.Fatalf("the other schema's listener heard %+v first", n)
		}
	case <-time.After(time.Minute):
		t.Fatal("the other schema's listener heard nothing")
	}
}
