package cohorts

import (
	"errors"
	"sync"
	"testing"
)

func TestCacheLoadsOnceAndEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(2)
	loads := map[string]int{}
	var mu sync.Mutex
	get := func(id string) any {
		v, err := c.get(id, func() (any, error) {
			mu.Lock()
			loads[id]++
			mu.Unlock()
			return "value of " + id, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Concurrent gets of one version load it once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get("a") })
	}
	wg.Wait()
	if loads["a"] != 1 || get("a") != "value of a" {
		t.Fatalf("a loaded %d times", loads["a"])
	}
	get("b")
	get("a") // a is now more recent than b
	get("c") // evicts b
	get("a")
	if loads["a"] != 1 {
		t.Errorf("a was evicted: loaded %d times", loads["a"])
	}
	get("b")
	if loads["b"] != 2 {
		t.Errorf("b should have been evicted and loaded again: %d loads", loads["b"])
	}
	// A failed load is not kept.
	boom := errors.New("boom")
	if _, err := c.get("d", func() (any, error) { return nil, boom }); err != boom {
		t.Fatalf("err = %v", err)
	}
	if v, err := c.get("d", func() (any, error) { return "d", nil }); err != nil || v != "d" {
		t.Errorf("after a failed load: %v %v", v, err)
	}
}
