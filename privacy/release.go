package privacy

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
)

// Defaults of a deployment; the operator's flags may change them, and each party may be stricter
// per connection (Threshold, StricterEpsilon).
const (
	// DefaultThreshold is the smallest count shown to the other party.
	DefaultThreshold = 100
	// DefaultEpsilon is the ε spent by one release: 0.5, a discrete Laplace of scale 2 (standard
	// deviation about 2.8 people).
	DefaultEpsilon Epsilon = EpsilonUnit / 2
	// DefaultBudget is the ε a party may spend per connection and period on new questions.
	DefaultBudget Epsilon = 10 * EpsilonUnit
	// DefaultPeriod is the period after which a budget returns.
	DefaultPeriod = Week
)

// Epsilon is a privacy-loss parameter ε in millionths (EpsilonUnit is ε = 1). It is an integer
// so that budgets add up exactly, in memory and in SQL.
type Epsilon int64

// EpsilonUnit is ε = 1.
const EpsilonUnit Epsilon = 1_000_000

// ParseEpsilon parses a decimal ε ("0.5", "1", "0.000001"). It returns EINVALID when s is not a
// number, is not positive, has more than six decimals, or exceeds 1,000,000.
func ParseEpsilon(s string) (Epsilon, error) {
	bad := cleanroom.Errorf(cleanroom.EINVALID, "Epsilon %q is not a positive number with at most six decimals.", s).
		With("field", "epsilon").Hint("Write it as a decimal such as 0.5.")
	t := strings.TrimSpace(s)
	if t == "" || strings.Trim(t, "0123456789.") != "" || strings.Count(t, ".") > 1 {
		return 0, bad
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok || r.Sign() <= 0 {
		return 0, bad
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(EpsilonUnit)))
	if !r.IsInt() || !r.Num().IsInt64() || r.Num().Int64() > 1_000_000*int64(EpsilonUnit) {
		return 0, bad
	}
	return Epsilon(r.Num().Int64()), nil
}

// String formats e as a decimal without trailing zeros ("0.5").
func (e Epsilon) String() string {
	sign := ""
	if e < 0 {
		sign, e = "-", -e
	}
	s := strconv.FormatInt(int64(e/EpsilonUnit), 10)
	if frac := e % EpsilonUnit; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	return sign + s
}

// Rat returns e as an exact rational.
func (e Epsilon) Rat() *big.Rat { return big.NewRat(int64(e), int64(EpsilonUnit)) }

// Mechanism names the noise a release adds.
type Mechanism string

const (
	// Laplace adds discrete Laplace noise of scale 1/ε: ε-differential privacy for a count of
	// sensitivity one. The default (also the zero value).
	Laplace Mechanism = "laplace"
	// Gaussian adds discrete Gaussian noise with σ = 1/ε (σ² = 1/ε²): (ε²/2)-zero-concentrated
	// differential privacy, the same zCDP that ε-differential privacy implies, with lighter tails
	// than Laplace; budgets count its ε the same way (an upper bound: zCDP composes as Σε²/2).
	Gaussian Mechanism = "gaussian"
	// NoNoise releases exact counts above the threshold. Only for deployments that decide so
	// (tests, parties that trust each other); the threshold alone does not stop differencing.
	NoNoise Mechanism = "none"
)

// ParseMechanism parses "laplace", "gaussian" or "none"; "" is Laplace. It returns EINVALID for
// anything else.
func ParseMechanism(s string) (Mechanism, error) {
	switch m := Mechanism(strings.ToLower(strings.TrimSpace(s))); m {
	case "", Laplace:
		return Laplace, nil
	case Gaussian, NoNoise:
		return m, nil
	}
	return "", cleanroom.Errorf(cleanroom.EINVALID, "Unknown noise mechanism %q.", s).
		With("field", "mechanism").Hint("Use laplace, gaussian or none.")
}

// Params are the settings of one release.
type Params struct {
	// K is the threshold: a noisy count below K is suppressed. At least 1, so zero is never
	// shown. Threshold combines the parties' settings with the deployment's floor.
	K int64
	// Epsilon is the ε of this release (the scale of its noise); ignored with NoNoise.
	Epsilon Epsilon
	// Mechanism is the noise; "" is Laplace.
	Mechanism Mechanism
}

// DefaultParams are the deployment defaults: k = 100, ε = 0.5, discrete Laplace.
func DefaultParams() Params {
	return Params{K: DefaultThreshold, Epsilon: DefaultEpsilon, Mechanism: Laplace}
}

// Validate returns EINVALID when K is below 1, the mechanism is unknown, or a noisy mechanism has
// no positive ε.
func (p Params) Validate() error {
	if p.K < 1 {
		return cleanroom.Errorf(cleanroom.EINVALID, "The privacy threshold must be at least 1.").With("field", "k")
	}
	switch p.Mechanism {
	case "", Laplace, Gaussian:
		if p.Epsilon <= 0 {
			return cleanroom.Errorf(cleanroom.EINVALID, "Epsilon must be positive.").With("field", "epsilon")
		}
	case NoNoise:
	default:
		return cleanroom.Errorf(cleanroom.EINVALID, "Unknown noise mechanism %q.", p.Mechanism).With("field", "mechanism")
	}
	return nil
}

// Threshold returns the k of a release: the largest of the deployment's floor and the k each
// party set for the connection (values below 1 mean "not set" and are ignored). A floor below 1
// is DefaultThreshold.
func Threshold(floor int64, perParty ...int64) int64 {
	k := floor
	if k < 1 {
		k = DefaultThreshold
	}
	for _, p := range perParty {
		k = max(k, p)
	}
	return k
}

// StricterEpsilon returns the ε of a release: the smallest of the deployment's ceiling and the ε
// each party set for the connection (values below 1 millionth mean "not set"). A ceiling below 1
// millionth is DefaultEpsilon.
func StricterEpsilon(ceiling Epsilon, perParty ...Epsilon) Epsilon {
	e := ceiling
	if e <= 0 {
		e = DefaultEpsilon
	}
	for _, p := range perParty {
		if p > 0 {
			e = min(e, p)
		}
	}
	return e
}

// Released is a count as the other party sees it: a noisy value, or suppressed. A suppressed
// count carries Value 0 and must be shown as "below threshold", never as 0.
type Released struct {
	Value      int64
	Suppressed bool
}

// Noise returns the integer noise of a release with params p (valid, see Validate) and seed: a
// discrete Laplace of scale 1/ε or a discrete Gaussian of σ² = 1/ε², 0 with NoNoise.
func Noise(p Params, seed [32]byte) int64 {
	if p.Mechanism == NoNoise {
		return 0
	}
	src := NewSource(seed)
	scale := new(big.Rat).Inv(p.Epsilon.Rat()) // 1/ε, in lowest terms
	if p.Mechanism == Gaussian {
		scale.Mul(scale, scale) // σ² = 1/ε²
		return DiscreteGaussian(src, scale)
	}
	return DiscreteLaplace(src, scale)
}

// Release returns count as released to the other party, in this order: integer noise drawn with
// seed (Noise), then the threshold on the noisy value (below p.K is suppressed, so a zero is
// never shown), then a clamp at 0. The threshold applies to the noisy count, not the exact one:
// a cut on the exact count would tell with certainty whether one added person took a count from
// k-1 to k, which no noise could hide. So a true count a little below k may be shown and one a
// little above may be suppressed, each with the probability the noise gives.
//
// Release fails closed: a negative count or invalid params (Validate) give a suppressed value.
func Release(count int64, p Params, seed [32]byte) Released {
	if count < 0 || p.Validate() != nil {
		return Released{Suppressed: true}
	}
	v, n := count, Noise(p, seed)
	if n > 0 && v > math.MaxInt64-n {
		v = math.MaxInt64
	} else {
		v += n
	}
	if v < p.K {
		return Released{Suppressed: true}
	}
	return Released{Value: max(v, 0)}
}

// ReleaseTable releases a table's cells and their total, each from its own seed derived from
// seed ("cell/<i>", "total"). The total is a release of the exact total, never a sum of the
// released cells, and a sum of released cells is never shown as a total. Complementary
// suppression: when exactly one cell is suppressed and the total is shown, the total minus the
// shown cells would be a noisy estimate of that one cell, so the shown cell with the smallest
// released value (the first of equals) is suppressed too; with no such cell, the total is.
func ReleaseTable(cells []int64, p Params, seed [32]byte) (released []Released, total Released) {
	var sum int64
	released = make([]Released, len(cells))
	for i, c := range cells {
		if c < 0 || sum > 1<<62-c {
			sum = -1 // fail closed below
		}
		if sum >= 0 {
			sum += c
		}
		released[i] = Release(c, p, Derive(seed, "cell/"+strconv.Itoa(i)))
	}
	if sum < 0 {
		total = Released{Suppressed: true}
	} else {
		total = Release(sum, p, Derive(seed, "total"))
	}
	hidden, smallest := 0, -1
	for i, r := range released {
		if r.Suppressed {
			hidden++
		} else if smallest < 0 || r.Value < released[smallest].Value {
			smallest = i
		}
	}
	if hidden == 1 && !total.Suppressed {
		if smallest >= 0 {
			released[smallest] = Released{Suppressed: true}
		} else {
			total = Released{Suppressed: true}
		}
	}
	return released, total
}

// Value is a number derived from released counts (a ratio, a share, an index). Derived values
// are post-processing of the noisy counts and cost no privacy; when any input is suppressed, so is
// the value (Value 0), so it cannot be used to recover the hidden input (the lookalike curve's
// recall × reach / lift, for example).
type Value struct {
	Value      float64
	Suppressed bool
}

// Derived applies f to the released values of in, or returns a suppressed Value when any of them
// is suppressed.
func Derived(f func(v ...int64) float64, in ...Released) Value {
	vs := make([]int64, len(in))
	for i, r := range in {
		if r.Suppressed {
			return Value{Suppressed: true}
		}
		vs[i] = r.Value
	}
	return Value{Value: f(vs...)}
}

// Ratio returns num/den of released counts; suppressed when either is, or when den is 0.
func Ratio(num, den Released) Value {
	if den.Value == 0 {
		return Value{Suppressed: true}
	}
	return Derived(func(v ...int64) float64 { return float64(v[0]) / float64(v[1]) }, num, den)
}

// Index returns the affinity index of an overlap, with 100 the baseline: the share of the
// audience in the overlap over the share of the base in the segment,
// 100 × (overlap/audience) / (segment/base). Suppressed when any input is, or a denominator is 0.
func Index(overlap, audience, segment, base Released) Value {
	if audience.Value == 0 || segment.Value == 0 || base.Value == 0 {
		return Value{Suppressed: true}
	}
	return Derived(func(v ...int64) float64 {
		return 100 * (float64(v[0]) / float64(v[1])) / (float64(v[2]) / float64(v[3]))
	}, overlap, audience, segment, base)
}
