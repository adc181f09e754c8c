package benchenv

import "testing"

func TestInt(t *testing.T) {
	t.Setenv("CLEANROOM_BENCHENV_TEST", "")
	if got := Int(t, "CLEANROOM_BENCHENV_TEST", 7); got != 7 {
		t.Fatalf("unset: %d, want the default 7", got)
	}
	t.Setenv("CLEANROOM_BENCHENV_TEST", "250000")
	if got := Int(t, "CLEANROOM_BENCHENV_TEST", 7); got != 250000 {
		t.Fatalf("set: %d, want 250000", got)
	}
	if CPUTime() <= 0 {
		t.Fatal("no CPU time read")
	}
}
