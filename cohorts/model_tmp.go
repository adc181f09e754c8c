package cohorts

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
)

type modelOutcome struct {
	Model   json.RawMessage
	Members *roaring.Bitmap
}

func (s *Service) model(ctx context.Context, co *cleanroom.Cohort, ev *evaluation, prev json.RawMessage, progress func(float64)) (*modelOutcome, error) {
	return nil, errors.New("todo")
}

type tmpFeature struct {
	Kind, ID, Name string
	Weight         float64
}
type tmpModel struct{ Features []tmpFeature }
type tmpPoint struct {
	Similarity, Recall, Precision, Lift float64
	Reach                               int
}

type ModelRecord struct {
	Model        *tmpModel  `json:"model"`
	Curve        []tmpPoint `json:"curve"`
	Seeds        int        `json:"seeds"`
	HoldoutSeeds int        `json:"holdout_seeds"`
	AUC          float64    `json:"auc"`
}
