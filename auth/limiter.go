package auth

import (
	"sync"
	"time"
)

// Limiter limits events per key (failed sign-in attempts per client, per account and client, ...)
// with a token bucket: Burst events at once, then one every Interval. It lives in the process;
// with several API instances each limits on its own, which still bounds guessing per instance.
// To charge only events that turn out badly without letting concurrent requests slip past the
// limit, take a token first (Allow) and give it back (Refund) when the event went well.
type Limiter struct {
	Burst    int
	Interval time.Duration
	Now      func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter allowing burst events at once and one per interval after that.
func NewLimiter(burst int, interval time.Duration) *Limiter {
	return &Limiter{Burst: burst, Interval: interval, Now: time.Now, buckets: map[string]*bucket{}}
}

// Allow takes one event from key's bucket and reports whether there was one. When it returns
// false, retryAfter says when the next event will be allowed.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(l.Burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = min(float64(l.Burst), b.tokens+float64(now.Sub(b.at))/float64(l.Interval))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.Interval))
}

// Refund gives back a token taken by Allow (the event it was taken for went well). The bucket
// never holds more than Burst.
func (l *Limiter) Refund(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		b.tokens = min(float64(l.Burst), b.tokens+1)
	}
}

// Reset forgets key's history (after a successful login).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// sweep drops full buckets now and then so the map does not grow without bound.
func (l *Limiter) sweep(now time.Time) {
	full := time.Duration(l.Burst) * l.Interval
	if now.Sub(l.swept) < full {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
}
