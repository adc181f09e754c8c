package cohorts

import (
	"context"

	"github.com/cleanroom-oss/cleanroom"
)

// Standing says whether a cohort's last build still holds now: Current is false when anything
// the build read changed since (a new version, a grant that expired or was revoked, an unlinked
// data source, a permission switched off, a connection suspended or deleted), until the rebuild
// that the refresher queues is done. Targets holds, per connection ID, why the cohort may not be
// used there now ("" when it may).
type Standing struct {
	Current bool
	Targets map[string]string
	// Publisher holds, per connection ID, the publisher's audience version the check read (""
	// when it has none): a build that is current was made on it.
	Publisher map[string]string
	// SourcesUsable says every data source the query names may be used now (none unlinked, none
	// without a grant in force for the cohort's kind).
	SourcesUsable bool
}

// Standing checks, as of now, everything co's build relied on (the same checks a build makes).
// The activation service serves a cohort's code only while its standing is current and its
// target's reason empty, so a revoked grant or a permission switched off stops serving at the
// next snapshot, before the rebuild.
func (s *Service) Standing(ctx context.Context, co *cleanroom.Cohort) (*Standing, error) {
	sp, err := specOf(co)
	if err != nil {
		return nil, err
	}
	in, err := s.gather(ctx, co, &sp)
	if err != nil {
		return nil, err
	}
	st := &Standing{Current: in.Digest == co.Inputs, Targets: make(map[string]string, len(co.Targets)),
		Publisher: make(map[string]string, len(co.Targets))}
	st.SourcesUsable = true
	for _, src := range in.Sources {
		if src.DS == nil {
			st.SourcesUsable = false
		}
	}
	for i, t := range co.Targets {
		st.Targets[t.ConnectionID] = in.Targets[i].Reason
		if v := in.Targets[i].Pub; v != nil {
			st.Publisher[t.ConnectionID] = v.ID
		}
	}
	return st, nil
}
