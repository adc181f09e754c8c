package storetest

import (
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

var factCases = []testCase{
	{"a fact is recorded once", func(t *testing.T, s cleanroom.Store) {
		ctx := t.Context()
		for _, st := range []struct{ name, value, want string }{
			{"root", "a1", "a1"},
			{"root", "b2", "a1"},
			{"other", "b2", "b2"},
			{"root", "a1", "a1"},
		} {
			got, err := s.RecordFact(ctx, st.name, st.value)
			ok(t, err)
			if got != st.want {
				t.Fatalf("RecordFact(%q, %q) = %q, want %q", st.name, st.value, got, st.want)
			}
		}
	}},
}
