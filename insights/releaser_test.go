package insights

import (
	"strings"

	"github.com/cleanroom-oss/cleanroom/privacy"
)

// ParamsReleaser releases with the privacy package's own functions: noise, the threshold and
// complementary suppression under Params, each number with a seed derived from its label and
// Seed, or BaseSeed for the base's numbers (BaseLabel). Seeding the base's numbers by a question
// about the base alone (the publisher's version, not the cohort) gives them the same noise in
// every report on that version, so reports on many cohorts cannot be averaged to learn them
// exactly. It is the engine's releaser for its own tests and benchmarks only: the cohort service
// releases reports through the deployment's release gate (package disclosure), the one place
// that decides how a cross-party number is released.
type ParamsReleaser struct {
	Params         privacy.Params
	Seed, BaseSeed [32]byte
}

func (p ParamsReleaser) seed(label string) [32]byte {
	if strings.HasPrefix(label, BaseLabel) {
		return privacy.Derive(p.BaseSeed, label)
	}
	return privacy.Derive(p.Seed, label)
}

// Count releases n.
func (p ParamsReleaser) Count(label string, n int64) privacy.Released {
	return privacy.Release(n, p.Params, p.seed(label))
}

// Table releases cells and their total.
func (p ParamsReleaser) Table(label string, cells []int64) ([]privacy.Released, privacy.Released) {
	return privacy.ReleaseTable(cells, p.Params, p.seed(label))
}
