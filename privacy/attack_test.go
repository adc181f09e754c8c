package privacy_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cleanroom-oss/cleanroom/privacy"
)

// An attacker who knows every other person in a count asks about one target, present or absent
// at random (50/50), and guesses from the release. ε-differential privacy bounds the best
// accuracy of any such guess by e^ε/(1+e^ε) (62.2% at ε = 0.5). Both attacks of the issue run
// here against the engine: one person more or less in a count (300 or 301), and one person taking
// a count across the threshold (99 or 100). Without noise the attacker is always right.
func TestAttackerAccuracyWithinBound(t *testing.T) {
	const trials = 20000
	eps := privacy.DefaultEpsilon
	e := math.Exp(float64(eps) / float64(privacy.EpsilonUnit))
	bound := e / (1 + e)
	slack := 3 * math.Sqrt(0.25/trials)
	attacks := []struct {
		name  string
		base  int64
		guess func(r privacy.Released) bool // the attacker's rule: "present"
	}{
		{"one more person", 300, func(r privacy.Released) bool { return !r.Suppressed && r.Value >= 301 }},
		{"crossing the threshold", 99, func(r privacy.Released) bool { return !r.Suppressed }},
	}
	for _, m := range []privacy.Mechanism{privacy.Laplace, privacy.Gaussian, privacy.NoNoise} {
		for _, a := range attacks {
			t.Run(fmt.Sprint(m, "/", a.name), func(t *testing.T) {
				coin := rand.New(rand.NewPCG(1, 2))
				p := privacy.Params{K: 100, Epsilon: eps, Mechanism: m}
				right := 0
				for i := range trials {
					present := coin.IntN(2) == 1
					count := a.base
					if present {
						count++
					}
					// Each trial is a new question (another target, another data version).
					seed := privacy.Seed(key, []byte(a.name), []byte(fmt.Sprint("version ", i)))
					if a.guess(privacy.Release(count, p, seed)) == present {
						right++
					}
				}
				acc := float64(right) / trials
				t.Logf("accuracy %.4f, bound %.4f", acc, bound)
				within := acc <= bound+slack
				if within != (m != privacy.NoNoise) {
					t.Errorf("accuracy %.4f, bound %.4f (+%.4f): within = %v", acc, bound, slack, within)
				}
			})
		}
	}
}
