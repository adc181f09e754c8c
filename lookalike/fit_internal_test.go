package lookalike

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
)

// TestFit checks the Newton fit on data drawn from a known logistic model: the penalised loss's
// gradient vanishes at the result, the weights come back, a feature no row has stays at exactly
// 0, and a feature that separates the labels perfectly stays finite thanks to the penalty.
func TestFit(t *testing.T) {
	const n, width, absent, separating = 40_000, 12, 7, 11
	truth := []float64{1.5, -1, 0.8, 0, 2, -0.5, 0.3, 0, 1, -2, 0.6}
	const bias = -1.0
	r := rand.New(rand.NewPCG(1, 2))
	rows := make([][]int32, n)
	y := make([]float64, n)
	for i := range rows {
		z := bias
		for f := range int32(width - 1) {
			if f != absent && r.Float64() < 0.3 {
				rows[i] = append(rows[i], f)
				z += truth[f]
			}
		}
		if r.Float64() < 1/(1+math.Exp(-z)) {
			y[i] = 1
			if r.Float64() < 0.01 { // only positives have it
				rows[i] = append(rows[i], separating)
			}
		}
	}
	const l2 = 3.0
	w, err := fit(context.Background(), rows, y, width, l2)
	if err != nil {
		t.Fatal(err)
	}
	// Gradient of the penalised loss at w.
	g := make([]float64, width+1)
	for i, row := range rows {
		z := w[width]
		for _, f := range row {
			z += w[f]
		}
		e := 1/(1+math.Exp(-z)) - y[i]
		g[width] += e
		for _, f := range row {
			g[f] += e
		}
	}
	for f := range width {
		g[f] += l2 * w[f]
	}
	for f, v := range g {
		if math.Abs(v) > 1e-6*n {
			t.Errorf("gradient %d is %g at the fit: not the optimum", f, v)
		}
	}
	if w[absent] != 0 {
		t.Errorf("a feature no row has got weight %g", w[absent])
	}
	if w[separating] < 2 || w[separating] > 20 || math.IsNaN(w[separating]) {
		t.Errorf("the separating feature got weight %g, want large but finite", w[separating])
	}
	for f, want := range truth {
		if f != absent && math.Abs(w[f]-want) > 0.15 {
			t.Errorf("weight %d is %.3f, the data were drawn with %.3f", f, w[f], want)
		}
	}
	if math.Abs(w[width]-bias) > 0.15 {
		t.Errorf("bias %.3f, the data were drawn with %.3f", w[width], bias)
	}
}
