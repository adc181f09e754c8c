package privacy

import (
	"math/big"
	"testing"
)

// The machine-integer paths draw exactly what the big-integer paths draw, so a release does not
// depend on which one ran.
func TestMachineAndBigPathsAgree(t *testing.T) {
	for _, g := range [][2]uint64{{0, 1}, {1, 3}, {1, 1}, {5, 7}, {999, 1000}} {
		a, b := NewSource(Seed(nil, []byte("agree"))), NewSource(Seed(nil, []byte("agree")))
		for i := range 2000 {
			x := bernoulliExpAtMostOne64(a, g[0], g[1])
			y := bernoulliExpAtMostOneFrom(b, new(big.Int).SetUint64(g[0]), new(big.Int).SetUint64(g[1]), 1)
			if x != y {
				t.Fatalf("γ %d/%d, draw %d: machine %v, big %v", g[0], g[1], i, x, y)
			}
		}
	}
}
