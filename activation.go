package cleanroom

import (
	"context"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// AdServerSettings is how a publisher's ad servers and pages take cohort codes: Google Ad
// Manager's network code and targeting key, Microsoft Monetize (Xandr)'s member ID and keyword
// key, the page origins the edge answers (CORS), where the page tag finds the user ID, and the
// time zone frequency caps count days, weeks and months in.
type AdServerSettings struct {
	PublisherID    string `json:"publisher_id"`
	GAMNetworkCode string `json:"gam_network_code"`
	// GAMKey is the targeting key whose values are cohort codes: line items target
	// "GAMKey is any of <code>".
	GAMKey        string `json:"gam_key"`
	XandrMemberID string `json:"xandr_member_id"`
	XandrKey      string `json:"xandr_key"`
	// Origins are the page origins (scheme://host[:port]) allowed to call the edge from a browser.
	Origins []string `json:"origins"`
	// UIDCookie and UIDStorageKey name the first-party cookie and the localStorage key holding
	// the publisher's user ID, as the page tag reads it (window.cleanroom.uid wins over both).
	UIDCookie     string `json:"uid_cookie,omitempty"`
	UIDStorageKey string `json:"uid_storage_key,omitempty"`
	// TimeZone is an IANA time zone name; empty means UTC.
	TimeZone  string    `json:"time_zone,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Default ad-server keys, used until a publisher sets its own.
const (
	DefaultGAMKey   = "crc"
	DefaultXandrKey = "crc"
)

// DefaultAdServerSettings returns a publisher's settings before it saves any.
func DefaultAdServerSettings(publisherID string) *AdServerSettings {
	return &AdServerSettings{PublisherID: publisherID, GAMKey: DefaultGAMKey, XandrKey: DefaultXandrKey, Origins: []string{}}
}

// MaxOrigins bounds the page origins of a publisher.
const MaxOrigins = 50

// Validate checks the settings (the ad-server keys' syntax is the edge's CheckKey, applied by
// the activation service).
func (s *AdServerSettings) Validate() error {
	if !digitsOnly(s.GAMNetworkCode, 1, 20) && s.GAMNetworkCode != "" {
		return Errorf(EINVALID, "The GAM network code must be digits.").With("field", "gam_network_code").
			Hint("Copy it from Ad Manager's Admin > Global settings (for example 21700000000).")
	}
	if !digitsOnly(s.XandrMemberID, 1, 12) && s.XandrMemberID != "" {
		return Errorf(EINVALID, "The Xandr member ID must be digits.").With("field", "xandr_member_id").
			Hint("Copy it from Microsoft Monetize's Network > Member settings.")
	}
	if len(s.Origins) > MaxOrigins {
		return Errorf(EINVALID, "At most %d page origins may be listed.", MaxOrigins).With("field", "origins")
	}
	for i, o := range s.Origins {
		norm, err := NormalizeOrigin(o)
		if err != nil {
			return err
		}
		s.Origins[i] = norm
	}
	for _, f := range []struct{ name, v string }{{"uid_cookie", s.UIDCookie}, {"uid_storage_key", s.UIDStorageKey}} {
		if len(f.v) > 100 || !tokenChars(f.v) {
			return Errorf(EINVALID, "The %s must be at most 100 letters, digits, '-', '_' or '.'.", f.name).With("field", f.name)
		}
	}
	if s.TimeZone != "" {
		if _, err := time.LoadLocation(s.TimeZone); err != nil || strings.EqualFold(s.TimeZone, "local") {
			return Errorf(EINVALID, "The time zone %q is not known.", truncate(s.TimeZone, 40)).With("field", "time_zone").
				Hint("Use an IANA name such as Europe/Paris or America/New_York; leave it empty for UTC.")
		}
	}
	return nil
}

// Location returns the settings' time zone (UTC when empty or unknown).
func (s *AdServerSettings) Location() *time.Location {
	if s.TimeZone == "" {
		return time.UTC
	}
	if l, err := time.LoadLocation(s.TimeZone); err == nil {
		return l
	}
	return time.UTC
}

// NormalizeOrigin checks a page origin, scheme://host[:port] with scheme http or https and no
// path, and returns it in lower case.
func NormalizeOrigin(o string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(o))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || strings.Contains(u.Host, "*") {
		return "", Errorf(EINVALID, "The page origin %q is not valid.", truncate(o, 60)).With("field", "origins").
			Hint("Give origins as https://www.example.com (scheme, host and optional port; no path, no wildcard).")
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// ActivationSwitches are the publisher's two switches for a cohort at one connection: Direct
// (its own ad server's line items target the code) and Programmatic (PMP deals).
type ActivationSwitches struct {
	Direct       bool `json:"direct"`
	Programmatic bool `json:"programmatic"`
}

// On reports whether either switch is on.
func (s ActivationSwitches) On() bool { return s.Direct || s.Programmatic }

// LineItem is one GAM order line item of a deal: its 10-digit ID and floor price.
type LineItem struct {
	ID string `json:"id"`
	// Floor is the floor price in the currency's units, as a decimal string ("2.50").
	Floor    string `json:"floor"`
	Currency string `json:"currency"`
}

// Deal is a GAM programmatic deal (PMP) for a cohort at one connection: the proposal, then the
// line items once the buyer accepted and the order exists; and the Xandr (Microsoft Monetize)
// deal IDs that target the cohort, so that impressions reported with them count too.
type Deal struct {
	ProposalID   string     `json:"proposal_id"`
	ProposalName string     `json:"proposal_name"`
	LineItems    []LineItem `json:"line_items"`
	// XandrDeals are Xandr deal IDs (letters, digits, '-', '_', '.'); a deal with Xandr deal IDs
	// only needs no GAM proposal.
	XandrDeals []string `json:"xandr_deals,omitempty"`
}

// MaxXandrDealLength bounds a Xandr deal ID (as the edge's events route does).
const MaxXandrDealLength = 64

// validXandrDeal reports whether id is a Xandr deal ID as the edge accepts it.
func validXandrDeal(id string) bool {
	if id == "" || len(id) > MaxXandrDealLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// MaxLineItems bounds the line items of a deal.
const MaxLineItems = 100

// Validate checks a deal, naming the row and field of each problem.
func (d *Deal) Validate() error {
	d.ProposalID, d.ProposalName = strings.TrimSpace(d.ProposalID), strings.TrimSpace(d.ProposalName)
	if len(d.XandrDeals) > MaxLineItems {
		return Errorf(EINVALID, "A deal has at most %d Xandr deal IDs.", MaxLineItems).With("field", "xandr_deals")
	}
	seenDeal := map[string]bool{}
	for i := range d.XandrDeals {
		id := strings.TrimSpace(d.XandrDeals[i])
		d.XandrDeals[i] = id
		if !validXandrDeal(id) {
			return Errorf(EINVALID, "Xandr deal %d: the ID is not valid.", i+1).With("field", "xandr_deals").With("row", i+1).
				Hint("Copy the deal ID from Monetize (Deals); use letters, digits, '-', '_' or '.', at most %d.", MaxXandrDealLength)
		}
		if seenDeal[id] {
			return Errorf(EINVALID, "Xandr deal %d: %s is listed twice.", i+1, id).With("field", "xandr_deals").With("row", i+1)
		}
		seenDeal[id] = true
	}
	if len(d.XandrDeals) > 0 && len(d.LineItems) == 0 && d.ProposalID == "" && d.ProposalName == "" {
		return nil // Xandr only: no GAM proposal
	}
	if !digitsOnly(d.ProposalID, 1, 20) {
		return Errorf(EINVALID, "The proposal ID must be digits.").With("field", "proposal_id").
			Hint("Copy the proposal ID from Ad Manager's Sales > Proposals.")
	}
	if err := ValidateName("proposal name", d.ProposalName); err != nil {
		return err
	}
	if len(d.LineItems) > MaxLineItems {
		return Errorf(EINVALID, "A deal has at most %d line items.", MaxLineItems).With("field", "line_items")
	}
	seen := map[string]bool{}
	for i := range d.LineItems {
		li := &d.LineItems[i]
		li.ID, li.Floor, li.Currency = strings.TrimSpace(li.ID), strings.TrimSpace(li.Floor), strings.ToUpper(strings.TrimSpace(li.Currency))
		if !digitsOnly(li.ID, 10, 10) {
			return Errorf(EINVALID, "Line item %d: the ID must be 10 digits.", i+1).With("field", "line_items").With("row", i+1).
				Hint("Copy the order line item ID from Ad Manager (Delivery > Orders > the order > the line item); it has 10 digits.")
		}
		if seen[li.ID] {
			return Errorf(EINVALID, "Line item %d: %s is listed twice.", i+1, li.ID).With("field", "line_items").With("row", i+1)
		}
		seen[li.ID] = true
		if !decimalPrice(li.Floor) {
			return Errorf(EINVALID, "Line item %d: the floor price %q is not a price.", i+1, truncate(li.Floor, 20)).
				With("field", "line_items").With("row", i+1).Hint("Write the floor as a decimal number with up to 2 decimals, such as 2.50.")
		}
		if len(li.Currency) != 3 || !upperLetters(li.Currency) {
			return Errorf(EINVALID, "Line item %d: the currency %q is not an ISO 4217 code.", i+1, truncate(li.Currency, 10)).
				With("field", "line_items").With("row", i+1).Hint("Use a three-letter code such as USD or EUR.")
		}
	}
	return nil
}

// CohortActivation is a cohort's activation at one connection: the publisher's switches and the
// deal, if any.
type CohortActivation struct {
	CohortID     string `json:"cohort_id"`
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	ActivationSwitches
	// Deal is nil until the publisher enters one.
	Deal      *Deal     `json:"deal,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// CapPeriod is the window of a frequency cap.
type CapPeriod string

// Cap periods, in the publisher's time zone: a calendar day, an ISO week (Monday to Sunday), a
// calendar month.
const (
	CapDay   CapPeriod = "day"
	CapWeek  CapPeriod = "week"
	CapMonth CapPeriod = "month"
)

// MaxCapImpressions bounds a frequency cap.
const MaxCapImpressions = 1000

// FrequencyCap is an advertiser's cap on a cohort: at most MaxImpressions per user per Period,
// through the line items of the cohort's deals.
type FrequencyCap struct {
	CohortID       string    `json:"cohort_id"`
	MaxImpressions int       `json:"max_impressions"`
	Period         CapPeriod `json:"period"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

// Validate checks the cap.
func (f *FrequencyCap) Validate() error {
	if f.MaxImpressions < 1 || f.MaxImpressions > MaxCapImpressions {
		return Errorf(EINVALID, "The cap must be 1 to %d impressions.", MaxCapImpressions).With("field", "max_impressions")
	}
	if f.Period != CapDay && f.Period != CapWeek && f.Period != CapMonth {
		return Errorf(EINVALID, "The period must be day, week or month.").With("field", "period")
	}
	return nil
}

// ActivationStore stores publishers' ad-server settings, cohorts' activations (switches and
// deals) and frequency caps.
type ActivationStore interface {
	// FindAdServerSettings returns a publisher's settings. Returns ENOTFOUND if it saved none.
	FindAdServerSettings(ctx context.Context, publisherID string) (*AdServerSettings, error)
	// PutAdServerSettings stores s, replacing the publisher's settings.
	PutAdServerSettings(ctx context.Context, s *AdServerSettings) error
	// ListCohortActivations returns the activations of a cohort (cohortID set) or of every cohort
	// at a publisher (publisherID set).
	ListCohortActivations(ctx context.Context, cohortID, publisherID string) ([]*CohortActivation, error)
	// PutCohortActivation stores a, replacing the cohort's activation at the connection.
	PutCohortActivation(ctx context.Context, a *CohortActivation) error
	// FindFrequencyCap returns a cohort's cap. Returns ENOTFOUND if it has none.
	FindFrequencyCap(ctx context.Context, cohortID string) (*FrequencyCap, error)
	// PutFrequencyCap stores f, replacing the cohort's cap.
	PutFrequencyCap(ctx context.Context, f *FrequencyCap) error
	// DeleteFrequencyCap removes a cohort's cap; removing a missing one is not an error.
	DeleteFrequencyCap(ctx context.Context, cohortID string) error
}

func digitsOnly(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func upperLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return utf8.ValidString(s)
}

// decimalPrice reports whether s is a non-negative decimal with up to 2 decimals and at most 9
// integer digits.
func decimalPrice(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	return digitsOnly(whole, 1, 9) && (!dot || digitsOnly(frac, 1, 2))
}
