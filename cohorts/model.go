package cohorts

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/lookalike"
)

// ModelRecord is what a modeled cohort keeps of its training at one publisher: the model (to
// cut again at another similarity without retraining) and the similarity-reach curve the user
// picks from.
type ModelRecord struct {
	Model        *lookalike.Model  `json:"model"`
	Curve        []lookalike.Point `json:"curve"`
	Seeds        int               `json:"seeds"`
	TrainSeeds   int               `json:"train_seeds"`
	HoldoutSeeds int               `json:"holdout_seeds"`
	Negatives    int               `json:"negatives"`
	BaseRate     float64           `json:"base_rate"`
	AUC          float64           `json:"auc"`
	// Shared lists the cohort features the partner may see by name (standard cohorts it may
	// use, custom cohorts shared with it); the publisher sees them all.
	Shared []string `json:"shared,omitempty"`
}

// Hidden returns how many of the model's features a caller does not see by name.
func (r *ModelRecord) Hidden(publisher bool) int {
	if r.Model == nil {
		return 0
	}
	return len(r.Model.Features) - len(r.Visible(publisher))
}

// Visible returns the model's features as a caller sees them: all for the publisher, for the
// partner only countries and the cohorts in Shared (the model still uses the others).
func (r *ModelRecord) Visible(publisher bool) []lookalike.Feature {
	if r.Model == nil {
		return nil
	}
	if publisher {
		return r.Model.Features
	}
	var out []lookalike.Feature
	for _, f := range r.Model.Features {
		if f.Kind != "cohort" || slices.Contains(r.Shared, f.ID) {
			out = append(out, f)
		}
	}
	return out
}

// modelOutcome is a trained (or reused) model, and the members when a similarity is chosen.
type modelOutcome struct {
	Model   json.RawMessage
	Members *roaring.Bitmap
}

// model trains a lookalike on the evaluation's matched users (the seeds), or reuses prev when the
// inputs are unchanged, then cuts it at the cohort's chosen similarity if there is one.
func (s *Service) model(ctx context.Context, co *cleanroom.Cohort, conn *cleanroom.Connection, digest string, ev *evaluation, prev json.RawMessage, progress func(float64)) (*modelOutcome, error) {
	var rec ModelRecord
	if len(prev) > 0 && json.Unmarshal(prev, &rec) == nil && rec.Model != nil {
		progress(1)
	} else {
		// Whether there are enough seeds is decided on their released count, as the estimate
		// says, never on the exact one (whose failure message would tell it): a build trains
		// exactly when the noisy seeds reach the minimum.
		seeds := int64(ev.Members.GetCardinality())
		enough, err := s.enoughSeeds(ctx, conn, co, digest, seeds)
		if err != nil {
			return nil, err
		}
		if !enough {
			return nil, cleanroom.Errorf(cleanroom.EINVALID, "Fewer than about %d matched users to learn from; a lookalike needs at least that many.",
				lookalike.DefaultMinSeeds).Hint("Widen the query or add data, so that more of your users match the publisher's.")
		}
		res, err := lookalike.Train(ctx, ev.Pub, ev.Members, lookalike.Options{Country: true, Workers: s.Workers, Progress: progress, Seed: seedOf(co.ID),
			MinSeeds: 1})
		if err != nil {
			return nil, err
		}
		rec = ModelRecord{Model: res.Model, Curve: res.Curve, Seeds: res.Seeds, TrainSeeds: res.TrainSeeds,
			HoldoutSeeds: res.HoldoutSeeds, Negatives: res.Negatives, BaseRate: res.BaseRate, AUC: res.AUC}
	}
	rec.Shared = nil
	outs, err := s.Store.ListStandardOptOuts(ctx, conn.PublisherID)
	if err != nil {
		return nil, err
	}
	for _, c := range ev.Pub.Cohorts {
		switch {
		case c.Standard && conn.Permissions.StandardCohorts && !slices.Contains(outs, c.ID),
			!c.Standard && conn.Permissions.CustomCohorts && slices.Contains(conn.Permissions.SharedCustomCohorts, c.ID):
			rec.Shared = append(rec.Shared, c.ID)
		}
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("cohorts: model: %w", err)
	}
	out := &modelOutcome{Model: raw}
	if co.Similarity != nil {
		if out.Members, err = rec.Model.Select(ctx, ev.Pub, ev.Members, *co.Similarity, co.IncludeSeeds); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// seedOf derives a cohort's sampling seed from its ID, so retraining on the same inputs gives the
// same model.
func seedOf(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}
