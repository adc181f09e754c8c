package cleanroom

import (
	"context"
	"time"
)

// PrivacySetting is one party's privacy settings for one connection: the threshold k, the ε
// of each release (in millionths, as privacy.Epsilon), the budget per period and the period.
// Zero values (and an empty period) mean "not set": the deployment's defaults apply. The
// stricter party wins for every field (package disclosure decides).
type PrivacySetting struct {
	ConnectionID string    `json:"connection_id"`
	PartyID      string    `json:"party_id"`
	K            int64     `json:"k"`
	Epsilon      int64     `json:"epsilon"`
	Budget       int64     `json:"budget"`
	Period       string    `json:"period"`
	UpdatedBy    string    `json:"updated_by,omitempty"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

// PrivacyWindow names one period of one party's budget on one connection.
type PrivacyWindow struct {
	ConnectionID string
	PartyID      string
	Period       string
	Start        time.Time
}

// PrivacyStore keeps the privacy settings of connections and the ledger of privacy budgets.
type PrivacyStore interface {
	// ListPrivacySettings returns the settings stored for a connection, one per party that set
	// any, ordered by party ID.
	ListPrivacySettings(ctx context.Context, connectionID string) ([]PrivacySetting, error)
	// PutPrivacySetting inserts or replaces a party's settings for a connection. Returns
	// ENOTFOUND if the connection or the party does not exist.
	PutPrivacySetting(ctx context.Context, s *PrivacySetting) error
	// ChargePrivacy records question q at cost in window w, atomically with its checks: if q is
	// already recorded in w it records nothing and returns (spent, false, false, nil); if
	// spent+cost would pass limit it records nothing and returns (spent, false, true, nil);
	// otherwise it returns (spent+cost, true, false, nil). Windows of the same connection and
	// party that start before w are forgotten. Returns ENOTFOUND if the connection does not
	// exist.
	ChargePrivacy(ctx context.Context, w PrivacyWindow, q [32]byte, cost, limit int64) (spent int64, charged, over bool, err error)
	// PrivacySpent returns what was charged in w (0 for a window never charged) and whether
	// question q was charged in it.
	PrivacySpent(ctx context.Context, w PrivacyWindow, q [32]byte) (spent int64, asked bool, err error)
}
