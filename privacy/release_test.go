package privacy_test

import (
	"encoding/hex"
	"fmt"
	"math"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

var key = []byte("deployment noise key")

func TestSeedEncoding(t *testing.T) {
	tests := []struct {
		name string
		a, b [32]byte
		same bool
	}{
		{"same parts", privacy.Seed(key, []byte("q"), []byte("v1")), privacy.Seed(key, []byte("q"), []byte("v1")), true},
		{"boundaries count", privacy.Seed(key, []byte("ab"), []byte("c")), privacy.Seed(key, []byte("a"), []byte("bc")), false},
		{"an empty part counts", privacy.Seed(key), privacy.Seed(key, []byte{}), false},
		{"order counts", privacy.Seed(key, []byte("v1"), []byte("v2")), privacy.Seed(key, []byte("v2"), []byte("v1")), false},
		{"another version", privacy.Seed(key, []byte("q"), []byte("v1")), privacy.Seed(key, []byte("q"), []byte("v2")), false},
		{"another key", privacy.Seed(key, []byte("q")), privacy.Seed([]byte("other"), []byte("q")), false},
		{"derived labels", privacy.Derive(seedOf("x"), "cell/0"), privacy.Derive(seedOf("x"), "cell/1"), false},
	}
	for _, tt := range tests {
		if same := tt.a == tt.b; same != tt.same {
			t.Errorf("%s: same = %v", tt.name, same)
		}
	}
}

// The encoding and the samplers are pinned: a change would give every stored question new noise,
// and a partner could average the old and the new.
func TestReleasesArePinned(t *testing.T) {
	seed := privacy.Seed(key, []byte("cohort size"), []byte("version 1"))
	if got, want := hex.EncodeToString(seed[:]), pinnedSeed; got != want {
		t.Errorf("seed %s, want %s", got, want)
	}
	var got []int64
	for _, m := range []privacy.Mechanism{privacy.Laplace, privacy.Gaussian} {
		for i := range 5 {
			p := privacy.Params{K: 1, Epsilon: privacy.DefaultEpsilon, Mechanism: m}
			got = append(got, privacy.Noise(p, privacy.Derive(seed, fmt.Sprint(i))))
		}
	}
	if fmt.Sprint(got) != pinnedNoise {
		t.Errorf("noise %v, want %s", got, pinnedNoise)
	}
}

func TestNoiseIsDeterministicPerQuestionAndVersions(t *testing.T) {
	for _, m := range []privacy.Mechanism{privacy.Laplace, privacy.Gaussian} {
		t.Run(string(m), func(t *testing.T) {
			p := privacy.Params{K: 1, Epsilon: privacy.DefaultEpsilon, Mechanism: m}
			const n = 4000
			var sx, sy, sxx, syy, sxy float64
			equal := 0
			for i := range n {
				q := []byte(fmt.Sprint("question ", i))
				s1 := privacy.Seed(key, q, []byte("version 1"))
				a, again := privacy.Release(1000, p, s1), privacy.Release(1000, p, s1)
				if a != again {
					t.Fatalf("question %d: %v then %v", i, a, again)
				}
				b := privacy.Release(1000, p, privacy.Seed(key, q, []byte("version 2")))
				x, y := float64(a.Value-1000), float64(b.Value-1000)
				sx, sy, sxx, syy, sxy = sx+x, sy+y, sxx+x*x, syy+y*y, sxy+x*y
				if a == b {
					equal++
				}
			}
			r := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
			// Independent noise: correlation within 4 standard errors of 0.
			if math.Abs(r) > 4/math.Sqrt(n) {
				t.Errorf("noise on two versions correlates: r = %.3f", r)
			}
			if equal > n/2 {
				t.Errorf("%d of %d releases on a new version equal the old", equal, n)
			}
		})
	}
}

func TestThresholdEdges(t *testing.T) {
	exact := privacy.Params{K: 100, Mechanism: privacy.NoNoise}
	tests := []struct {
		count int64
		want  privacy.Released
	}{
		{0, privacy.Released{Suppressed: true}},
		{1, privacy.Released{Suppressed: true}},
		{99, privacy.Released{Suppressed: true}},
		{100, privacy.Released{Value: 100}},
		{101, privacy.Released{Value: 101}},
		{-1, privacy.Released{Suppressed: true}}, // fails closed
	}
	for _, tt := range tests {
		if got := privacy.Release(tt.count, exact, seedOf("edge")); got != tt.want {
			t.Errorf("Release(%d) = %+v, want %+v", tt.count, got, tt.want)
		}
	}
	// With noise, the threshold applies to the noisy count: nothing below k is ever shown, and
	// a count is suppressed exactly when its noisy value is below k.
	for _, m := range []privacy.Mechanism{privacy.Laplace, privacy.Gaussian} {
		p := privacy.Params{K: 100, Epsilon: privacy.DefaultEpsilon, Mechanism: m}
		for _, c := range []int64{0, 98, 99, 100, 101, 102} {
			for i := range 300 {
				seed := seedOf(fmt.Sprint(m, c, i))
				got, noisy := privacy.Release(c, p, seed), c+privacy.Noise(p, seed)
				want := privacy.Released{Value: noisy}
				if noisy < p.K {
					want = privacy.Released{Suppressed: true}
				}
				if got != want {
					t.Fatalf("%s: Release(%d) = %+v, noisy %d", m, c, got, noisy)
				}
			}
		}
	}
}

func TestInvalidParamsSuppress(t *testing.T) {
	for _, p := range []privacy.Params{
		{},                                 // zero value: k 0, no ε
		{K: 0, Mechanism: privacy.NoNoise}, // zero would be shown
		{K: 10, Epsilon: 0},                // Laplace without ε
		{K: 10, Epsilon: -5, Mechanism: privacy.Gaussian},
		{K: 10, Epsilon: privacy.EpsilonUnit, Mechanism: "laplace2"},
	} {
		if err := p.Validate(); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
			t.Errorf("%+v: Validate = %v", p, err)
		}
		if got := privacy.Release(5000, p, seedOf("bad")); !got.Suppressed {
			t.Errorf("%+v: released %+v", p, got)
		}
	}
	if err := privacy.DefaultParams().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestStricterPartyWins(t *testing.T) {
	kTests := []struct {
		floor    int64
		perParty []int64
		want     int64
	}{
		{100, nil, 100},
		{0, nil, privacy.DefaultThreshold},
		{100, []int64{0, 0}, 100},     // unset
		{100, []int64{50, 0}, 100},    // a party cannot go below the floor
		{100, []int64{250, 0}, 250},   // advertiser stricter
		{100, []int64{250, 400}, 400}, // publisher stricter
		{10, []int64{20, 15}, 20},     // low floor
		{100, []int64{-3, 101}, 101},
	}
	for _, tt := range kTests {
		if got := privacy.Threshold(tt.floor, tt.perParty...); got != tt.want {
			t.Errorf("Threshold(%d, %v) = %d, want %d", tt.floor, tt.perParty, got, tt.want)
		}
	}
	u := privacy.EpsilonUnit
	eTests := []struct {
		ceiling  privacy.Epsilon
		perParty []privacy.Epsilon
		want     privacy.Epsilon
	}{
		{u, nil, u},
		{0, nil, privacy.DefaultEpsilon},
		{u, []privacy.Epsilon{0, 0}, u},
		{u, []privacy.Epsilon{2 * u, 0}, u}, // a party cannot loosen the ceiling
		{u, []privacy.Epsilon{u / 4, u / 2}, u / 4},
		{u, []privacy.Epsilon{u / 2, u / 10}, u / 10},
	}
	for _, tt := range eTests {
		if got := privacy.StricterEpsilon(tt.ceiling, tt.perParty...); got != tt.want {
			t.Errorf("StricterEpsilon(%v, %v) = %v, want %v", tt.ceiling, tt.perParty, got, tt.want)
		}
	}
}

func TestDerivedValuesOfSuppressedCountsAreSuppressed(t *testing.T) {
	shown := func(v int64) privacy.Released { return privacy.Released{Value: v} }
	hidden := privacy.Released{Suppressed: true}
	tests := []struct {
		name string
		got  privacy.Value
		want privacy.Value
	}{
		{"ratio", privacy.Ratio(shown(150), shown(600)), privacy.Value{Value: 0.25}},
		{"ratio, hidden numerator", privacy.Ratio(hidden, shown(600)), privacy.Value{Suppressed: true}},
		{"ratio, hidden denominator", privacy.Ratio(shown(150), hidden), privacy.Value{Suppressed: true}},
		{"ratio over zero", privacy.Ratio(shown(150), shown(0)), privacy.Value{Suppressed: true}},
		{"index", privacy.Index(shown(200), shown(1000), shown(5000), shown(100000)), privacy.Value{Value: 400}},
		{"index, hidden overlap", privacy.Index(hidden, shown(1000), shown(5000), shown(100000)), privacy.Value{Suppressed: true}},
		{"index, hidden segment", privacy.Index(shown(200), shown(1000), hidden, shown(100000)), privacy.Value{Suppressed: true}},
		// The lookalike curve's recovery: recall × reach(0) / lift gives a withheld reach, unless
		// any value computed from the withheld reach is withheld with it.
		{"recall of a hidden reach", privacy.Derived(func(v ...int64) float64 { return float64(v[0]) / float64(v[1]) }, shown(120), hidden), privacy.Value{Suppressed: true}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestReleaseTableComplementarySuppression(t *testing.T) {
	exact := privacy.Params{K: 100, Mechanism: privacy.NoNoise}
	h := privacy.Released{Suppressed: true}
	s := func(v int64) privacy.Released { return privacy.Released{Value: v} }
	tests := []struct {
		name  string
		cells []int64
		want  []privacy.Released
		total privacy.Released
	}{
		{"all shown", []int64{500, 300, 200}, []privacy.Released{s(500), s(300), s(200)}, s(1000)},
		{"one hidden hides the smallest shown too", []int64{500, 50, 400, 700}, []privacy.Released{s(500), h, h, s(700)}, s(1650)},
		{"two hidden need nothing more", []int64{500, 50, 40, 700}, []privacy.Released{s(500), h, h, s(700)}, s(1290)},
		{"the one shown cell hidden with the other", []int64{150, 60}, []privacy.Released{h, h}, s(210)},
		{"one hidden, nothing else shown", []int64{60, 50}, []privacy.Released{h, h}, s(110)},
		{"hidden total", []int64{30, 20}, []privacy.Released{h, h}, h},
		{"single hidden cell", []int64{150}, []privacy.Released{s(150)}, s(150)},
	}
	for _, tt := range tests {
		cells, total := privacy.ReleaseTable(tt.cells, exact, seedOf(tt.name))
		if fmt.Sprint(cells, total) != fmt.Sprint(tt.want, tt.total) {
			t.Errorf("%s: %v %v, want %v %v", tt.name, cells, total, tt.want, tt.total)
		}
	}
	// With noise: whenever the total is shown, never exactly one cell is hidden, so the total
	// minus the shown cells never isolates one hidden cell.
	p := privacy.DefaultParams()
	for i := range 2000 {
		cells := []int64{int64(i % 150), 90 + int64(i%23), 100 + int64(i%7), 400}
		rel, total := privacy.ReleaseTable(cells, p, seedOf(fmt.Sprint("table ", i)))
		hidden := 0
		for _, r := range rel {
			if r.Suppressed {
				hidden++
			}
		}
		if hidden == 1 && !total.Suppressed {
			t.Fatalf("%v released as %v, total %v: one hidden cell is total minus the rest", cells, rel, total)
		}
	}
}

func TestParseEpsilon(t *testing.T) {
	tests := []struct {
		in   string
		want privacy.Epsilon
		ok   bool
	}{
		{"0.5", privacy.EpsilonUnit / 2, true},
		{"1", privacy.EpsilonUnit, true},
		{" 2.25 ", 2250000, true},
		{"0.000001", 1, true},
		{"0.0000001", 0, false},
		{"0", 0, false},
		{"-1", 0, false},
		{"1/3", 0, false},
		{"1e-3", 0, false},
		{"abc", 0, false},
		{"0x1p-1", 0, false},
		{"1.2.3", 0, false},
		{"", 0, false},
		{"1000001", 0, false},
	}
	for _, tt := range tests {
		got, err := privacy.ParseEpsilon(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseEpsilon(%q) = %v, %v", tt.in, got, err)
		}
		if err != nil && cleanroom.ErrorCode(err) != cleanroom.EINVALID {
			t.Errorf("ParseEpsilon(%q): code %s", tt.in, cleanroom.ErrorCode(err))
		}
		if tt.ok && got.String() != fmt.Sprint(mustTrim(tt.in)) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

func mustTrim(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

func BenchmarkRelease(b *testing.B) {
	for _, m := range []privacy.Mechanism{privacy.Laplace, privacy.Gaussian} {
		b.Run(string(m), func(b *testing.B) {
			p := privacy.Params{K: 100, Epsilon: privacy.DefaultEpsilon, Mechanism: m}
			q := []byte(`{"any":[{"source":"ds1"}]}`)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				seed := privacy.Seed(key, q, []byte(fmt.Sprint(i)))
				privacy.Release(12345, p, seed)
			}
		})
	}
}

const (
	pinnedSeed  = "2d334efe49c976cd4c3a03729a9f3b9b64f6cb9890fb8c8e679372ee824618a6"
	pinnedNoise = "[-4 1 -1 -3 0 0 -4 -2 -2 -3]"
)
