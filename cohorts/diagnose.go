package cohorts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Diagnostics explain a match at one publisher: what each side holds of each identifier type,
// how much of it matched, and the causes found for a low or empty match, each with a fix.
// Counts that depend on the publisher's data are shown only at or above the privacy threshold
// (null below it, zero included: "none matched" would tell whether one uploaded person is the
// publisher's user).
type Diagnostics struct {
	ConnectionID string `json:"connection_id"`
	PublisherID  string `json:"publisher_id"`
	// Threshold is the privacy threshold the counts respect; Noisy says they carry noise.
	Threshold int64 `json:"threshold"`
	Noisy     bool  `json:"noisy"`
	// MatchedUsers is the number of publisher users the query matched (before any lookalike).
	MatchedUsers *int64 `json:"matched_users"`
	// PublisherTypes are the identifier types the publisher holds.
	PublisherTypes []identity.Tag      `json:"publisher_types"`
	Sources        []SourceDiagnostics `json:"data_sources"`
	// Causes are problems found for the match as a whole.
	Causes []Cause `json:"causes"`
}

// SourceDiagnostics are one data source's part of the diagnostics.
type SourceDiagnostics struct {
	DataSourceID string `json:"data_source_id"`
	Name         string `json:"name,omitempty"`
	// Left says why the data source took no part (unlinked, grant ended, no data).
	Left string `json:"left_out,omitempty"`
	// Rows is the number of identifier rows in the current version; RowsRejected the rows its
	// upload refused.
	Rows         int64             `json:"rows"`
	RowsRejected int64             `json:"rows_rejected"`
	MatchedUsers *int64            `json:"matched_users"`
	Types        []TypeDiagnostics `json:"types"`
	Causes       []Cause           `json:"causes"`
}

// TypeDiagnostics are the counts of one identifier type.
type TypeDiagnostics struct {
	// Type is the advertiser's identifier type; PublisherType the one it was matched against
	// (the same for exact matching, another through a bridge, empty when none).
	Type          identity.Tag `json:"type"`
	PublisherType identity.Tag `json:"publisher_type,omitempty"`
	Bridged       bool         `json:"bridged,omitempty"`
	// AdvertiserRows is the advertiser's rows of Type (its own data: always shown).
	AdvertiserRows int64 `json:"advertiser_rows"`
	// MatchedRows, MatchRate (MatchedRows / AdvertiserRows), PublisherIdentifiers and
	// MatchedUsers respect the threshold.
	MatchedRows *int64 `json:"matched_rows"`
	// BridgedRows (bridged types) is the advertiser's rows of Type the bridge maps, released
	// like the match counts.
	BridgedRows          *int64   `json:"bridged_rows,omitempty"`
	MatchRate            *float64 `json:"match_rate"`
	PublisherIdentifiers *int64   `json:"publisher_identifiers"`
	MatchedUsers         *int64   `json:"matched_users"`
}

// Cause is one problem found, with a concrete fix.
type Cause struct {
	// Code is stable: no_shared_type, type_not_held, bridge_not_configured, bridge_no_coverage,
	// normalisation, few_matches, and for the rows the upload refused or warned about (see
	// reportCauses) unhashed_values, wrong_hash, empty_hash, zero_maid, bad_maid, bad_ip,
	// bad_xandr_id, malformed_values, bad_encoding, unknown_type, bad_rows, unknown_segments and,
	// for a reason this version does not know, invalid_values.
	Code string       `json:"code"`
	Type identity.Tag `json:"type,omitempty"`
	Rows int64        `json:"rows,omitempty"`
	// Reasons are the upload report's reasons (ingest.RowReasons) the cause counts rows of.
	Reasons []string `json:"reasons,omitempty"`
	Message string   `json:"message"`
	Fix     string   `json:"fix"`
}

// count returns a pointer to n. The build stores diagnostics with exact counts, which nobody
// sees: they are released (releaseDiagnostics) when shown.
func count(n int64) *int64 { return &n }

// hashedTypes are the types whose values are hashes of something the advertiser normalises
// before hashing.
var hashedTypes = map[identity.Tag]bool{identity.TagEmailSHA256: true, identity.TagPhoneSHA256: true}

// diagnose builds the diagnostics of one evaluated target.
func (s *Service) diagnose(ctx context.Context, in *inputs, ti *targetInput, ev *evaluation) *Diagnostics {
	d := &Diagnostics{ConnectionID: ti.Conn.ID, PublisherID: ti.Conn.PublisherID,
		MatchedUsers: count(int64(ev.Members.GetCardinality())), PublisherTypes: slices.Clone(ev.Pub.Tags),
		Sources: []SourceDiagnostics{}, Causes: []Cause{}}
	if d.PublisherTypes == nil {
		d.PublisherTypes = []identity.Tag{}
	}
	for _, src := range in.Sources {
		sd := SourceDiagnostics{DataSourceID: src.ID, Left: src.Reason, Types: []TypeDiagnostics{}, Causes: []Cause{}}
		if src.DS != nil {
			sd.Name = src.DS.Name
		}
		if res := ev.Results[src.ID]; res != nil {
			s.diagnoseSource(ctx, &sd, src.Version, res, ev.Pub, len(ti.Bridges) > 0)
		}
		d.Sources = append(d.Sources, sd)
	}
	return d
}

// fewMatches is the cause shown when the matched users are below the threshold k.
func fewMatches(k int64) Cause {
	return Cause{Code: "few_matches",
		Message: fmt.Sprintf("Fewer than %d users matched the query at this publisher.", k),
		Fix: "Check the causes listed for each data source. If there are none, the audiences overlap little: " +
			"widen the query (any instead of all, fewer segments, no geo-lock) or add more identifier types."}
}

// bridgeCauses finds bridged types whose released bridged rows are withheld (fewer than k).
func bridgeCauses(sd *SourceDiagnostics, k int64) []Cause {
	var out []Cause
	for _, td := range sd.Types {
		if td.Bridged && td.BridgedRows == nil {
			out = append(out, Cause{Code: "bridge_no_coverage", Type: td.Type, Rows: td.AdvertiserRows,
				Message: fmt.Sprintf("The identity bridge maps fewer than about %d of your %s rows to %s.", k, td.Type, td.PublisherType),
				Fix:     "Check that the values are hashed the way the bridge expects, or ask the operator for a bridge with more coverage."})
		}
	}
	return out
}

// normalisationCauses finds hashed types that match far less often than the data source's other
// types (values hashed before being normalised), from released match rates of types with at
// least k rows.
func normalisationCauses(sd *SourceDiagnostics, k int64) []Cause {
	best := 0.0
	rates := map[identity.Tag]float64{}
	for _, td := range sd.Types {
		switch {
		case td.Bridged || td.PublisherType == "" || td.AdvertiserRows < k:
			continue
		case td.MatchRate == nil:
			// Matched rows below k: a rate of about 0 for a type with many rows (at least 2k).
			if td.AdvertiserRows < 2*k {
				continue
			}
			rates[td.Type] = 0
			continue
		}
		rates[td.Type] = *td.MatchRate
		if !hashedTypes[td.Type] {
			best = max(best, *td.MatchRate)
		}
	}
	var out []Cause
	for _, td := range sd.Types {
		r, ok := rates[td.Type]
		if ok && hashedTypes[td.Type] && best >= 0.05 && r < best/4 {
			out = append(out, Cause{Code: "normalisation", Type: td.Type,
				Message: fmt.Sprintf("Your %s rows match far less often than your other identifiers: the values were probably hashed before "+
					"being trimmed and lowercased (emails) or put in E.164 form (phone numbers).", td.Type),
				Fix: "Hash with \"cleanroom prepare\", which normalises before hashing, or trim spaces, lowercase and use E.164 before SHA-256."})
		}
	}
	return out
}

// diagnoseSource fills one data source's counts and causes.
func (s *Service) diagnoseSource(ctx context.Context, sd *SourceDiagnostics, ver *cleanroom.Version, res *match.Result, pub *vault.PublisherVersion, anyBridge bool) {
	sd.Rows = ver.Rows
	sd.MatchedUsers = count(int64(res.Any.GetCardinality()))
	shared := false
	for _, t := range res.Tags {
		if t.AdvertiserRows == 0 {
			continue // a publisher type the advertiser lacks: listed in PublisherTypes
		}
		td := TypeDiagnostics{Type: t.Tag, PublisherType: t.PublisherTag, Bridged: t.Bridged, AdvertiserRows: int64(t.AdvertiserRows)}
		if t.PublisherTag != "" {
			shared = true
			td.MatchedRows = count(int64(t.MatchedAdvertiserRows))
			td.PublisherIdentifiers = count(int64(t.PublisherIdentifiers))
			td.MatchedUsers = count(int64(t.MatchedPublisherUsers))
		}
		if t.Bridged {
			// The bridge is the publisher's data: how many rows it maps is released like the
			// match counts, and bridge_no_coverage read from the release (bridgeCauses).
			td.BridgedRows = count(int64(t.BridgedRows))
		}
		sd.Types = append(sd.Types, td)
		if t.PublisherTag == "" {
			sd.Causes = append(sd.Causes, Cause{Code: "type_not_held", Type: t.Tag, Rows: int64(t.AdvertiserRows),
				Message: fmt.Sprintf("The publisher holds no %s identifiers, so your %d rows of that type cannot match.", t.Tag, t.AdvertiserRows),
				Fix: fmt.Sprintf("Add identifiers of a type the publisher holds (%s), or ask the operator to set up an identity bridge from %s to one of them.",
					tagList(pub.Tags), t.Tag)})
			if !anyBridge {
				sd.Causes = append(sd.Causes, Cause{Code: "bridge_not_configured", Type: t.Tag,
					Message: fmt.Sprintf("No identity bridge is configured for this publisher, so %s cannot be translated to a type it holds.", t.Tag),
					Fix:     "Ask the operator to register an identity bridge for the publisher and upload its mapping."})
			}
		}
	}
	if !shared && len(res.Tags) > 0 {
		sd.Causes = append(sd.Causes, Cause{Code: "no_shared_type",
			Message: fmt.Sprintf("None of your identifier types (%s) is held by the publisher (%s), directly or through a bridge.",
				tagList(advTags(res)), tagList(pub.Tags)),
			Fix: "Upload identifiers of a type the publisher holds, or ask the operator to set up an identity bridge."})
	}
	s.reportCauses(ctx, sd, ver)
	slices.SortStableFunc(sd.Causes, func(a, b Cause) int { return strings.Compare(a.Code, b.Code) })
}

// reportCause explains the rows an upload refused (or kept with a warning) for some reasons of
// its report: what happened to them, and how to fix it. Message has one %d, the number of rows.
type reportCause struct {
	code    string
	reasons []string
	message string
	fix     string
}

// reportCauses explains every reason of ingest.RowReasons (a test checks that none is left to
// the fallback), in the order the causes are listed.
var reportCauses = []reportCause{
	{"unhashed_values", []string{string(identity.ReasonRawEmail), string(identity.ReasonRawPhone)},
		"%d rows of the upload held plain email addresses or phone numbers and were refused.",
		"Never upload raw values: run \"cleanroom prepare\" on your machine to normalise and hash them, then upload again."},
	{"wrong_hash", []string{string(identity.ReasonMD5), string(identity.ReasonSHA1), string(identity.ReasonWrongLength), string(identity.ReasonNotHex)},
		"%d rows held values hashed with another algorithm (MD5, SHA-1) or not a hex SHA-256, and were refused.",
		"Hash with SHA-256 and write it as 64 hex digits (\"cleanroom prepare\" does this)."},
	{"empty_hash", []string{string(identity.ReasonEmptyHash)},
		"%d rows held the SHA-256 of an empty string (a blank email address or phone number was hashed), which identifies nobody; they were refused.",
		"Skip blank values before hashing (\"cleanroom prepare\" skips them), then upload again."},
	{"zero_maid", []string{string(identity.ReasonZeroMAID)},
		"%d rows held the all-zero mobile advertising ID, which devices send when the user limits ad tracking; it identifies nobody, and the rows were refused.",
		"Leave all-zero MAIDs out of the export (\"cleanroom prepare\" drops them); they can never match."},
	{"bad_maid", []string{string(identity.ReasonBadUUID)},
		"%d rows tagged maid held a value that is not a mobile advertising ID (a UUID), and were refused.",
		"Tag only IDFAs and Android advertising IDs as maid, written as UUIDs (8-4-4-4-12 hex digits); check that the columns are not swapped."},
	{"bad_ip", []string{string(identity.ReasonBadIP)},
		"%d rows tagged ip_address held a value that is not the IP address of a device (not a single address, or a loopback, multicast, broadcast or unspecified one), and were refused.",
		"Upload the address each customer's device connected from, one per row, without port or prefix length."},
	{"bad_xandr_id", []string{string(identity.ReasonBadNumber)},
		"%d rows tagged appnexus held a value that is not a Xandr user ID (not a decimal number, rounded by a spreadsheet, too large, or the placeholder 0 or -1), and were refused.",
		"Export the Xandr user IDs as text, digits only, and drop the rows whose ID is 0 or -1."},
	{"malformed_values", []string{string(identity.ReasonEmpty), string(identity.ReasonTooLong), string(identity.ReasonControlChars), string(identity.ReasonBadChar)},
		"%d rows held an identifier that is empty, too long, or contains control characters, spaces or commas, and were refused.",
		"Export one clean value per field: check the file's quoting, delimiters and line ends, then upload again."},
	{"bad_encoding", []string{string(identity.ReasonBadUTF8)},
		"%d rows were not valid UTF-8 text and were refused.",
		"Save the file as UTF-8 (not Latin-1 or UTF-16) and upload it again."},
	{"unknown_type", []string{string(identity.ReasonUnknownTag)},
		"%d rows named an identifier type this deployment does not know, and were refused.",
		"Tag each row email_sha256, phone_sha256, maid, ip_address or appnexus (or a custom type the operator set up)."},
	{"bad_rows", []string{ingest.ReasonLineTooLong, ingest.ReasonColumnCount, ingest.ReasonBadQuoting},
		"%d rows were not in the upload format (too long, the wrong number of columns, or broken quoting) and were refused.",
		"Write one identifier per line: the identifier, its type and its comma-separated segment IDs, separated by tabs (\"cleanroom prepare\" writes this format)."},
	{"unknown_segments", []string{ingest.ReasonUnknownSegment},
		"%d rows named segment IDs that are not in the data source's taxonomy; those IDs were dropped and the rows kept with their other segments.",
		"Add the segments to the taxonomy (PUT /v1/data-sources/{id}/taxonomy, or cleanroom upload --taxonomy) and upload the file again, or correct the IDs."},
}

// fallbackCause explains reasons reportCauses does not know (a report written by another
// version of the server).
var fallbackCause = reportCause{"invalid_values", nil,
	"%d rows were refused for other problems; the upload report lists each with its line.",
	"Read the upload's report (GET /v1/uploads/{id}), fix the rows it names and upload again."}

// causeOf returns the cause that explains reason.
func causeOf(reason string) *reportCause {
	for i := range reportCauses {
		if slices.Contains(reportCauses[i].reasons, reason) {
			return &reportCauses[i]
		}
	}
	return &fallbackCause
}

// reportCauses adds the causes found in the ingest report of the version's upload: one per
// kind of refused or warned row, each with the report's reasons it counts.
func (s *Service) reportCauses(ctx context.Context, sd *SourceDiagnostics, ver *cleanroom.Version) {
	if ver.UploadID == "" {
		return
	}
	u, err := s.Store.FindUpload(ctx, ver.UploadID)
	if err != nil || len(u.Report) == 0 {
		return
	}
	var rep cleanroom.UploadReport
	if json.Unmarshal(u.Report, &rep) != nil {
		return
	}
	sd.RowsRejected = rep.RowsRejected
	sd.Causes = append(sd.Causes, explainReport(rep.Rejected, rep.Warnings)...)
}

// explainReport returns the causes of an upload report's counts of rows by reason.
func explainReport(counts ...map[string]int64) []Cause {
	found := map[*reportCause]*Cause{}
	var order []*reportCause
	for _, m := range counts {
		for reason, n := range m {
			if n <= 0 {
				continue
			}
			rc := causeOf(reason)
			c := found[rc]
			if c == nil {
				c = &Cause{Code: rc.code, Fix: rc.fix}
				found[rc] = c
				order = append(order, rc)
			}
			c.Rows += n
			c.Reasons = append(c.Reasons, reason)
		}
	}
	out := make([]Cause, 0, len(order))
	for _, rc := range order {
		c := found[rc]
		c.Message = fmt.Sprintf(rc.message, c.Rows)
		slices.Sort(c.Reasons)
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Cause) int { return strings.Compare(a.Code, b.Code) })
	return out
}

func advTags(res *match.Result) []identity.Tag {
	var out []identity.Tag
	for _, t := range res.Tags {
		if t.AdvertiserRows > 0 {
			out = append(out, t.Tag)
		}
	}
	return slices.Compact(out)
}

func tagList(tags []identity.Tag) string {
	if len(tags) == 0 {
		return "none"
	}
	s := make([]string, len(tags))
	for i, t := range tags {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// CohortDiagnostics returns the diagnostics of the last build of a cohort of the caller's
// workspace, one per connection built.
func (s *Service) CohortDiagnostics(ctx context.Context, c *cleanroom.Caller, id string) ([]json.RawMessage, error) {
	co, err := s.owned(ctx, c, id)
	if err != nil {
		return nil, err
	}
	out := []json.RawMessage{}
	for _, t := range co.Targets {
		if len(t.Diagnostics) == 0 {
			continue
		}
		var d Diagnostics
		if err := json.Unmarshal(t.Diagnostics, &d); err != nil {
			return nil, fmt.Errorf("cohorts: diagnostics of %s: %w", co.ID, err)
		}
		conn, err := s.Store.FindConnection(ctx, t.ConnectionID)
		if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
			continue // the connection was deleted: nothing to release to
		} else if err != nil {
			return nil, err
		}
		if err := s.releaseDiagnostics(ctx, c, conn, cohortQuestion("diagnostics", co, co.Inputs), &d); err != nil {
			return nil, err
		}
		raw, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// SourceDiagnostics matches one data source against a connection's publisher now and explains
// the result. The caller needs the matched or modeled cohorts permission on the connection and
// the right to use the data.
func (s *Service) DataSourceDiagnostics(ctx context.Context, c *cleanroom.Caller, dataSourceID, connectionID string) (*Diagnostics, error) {
	kind := cleanroom.CohortMatched
	if _, err := s.Conns.Use(ctx, c, connectionID, cleanroom.CapCreateMatchedCohort); err != nil {
		if _, err2 := s.Conns.Use(ctx, c, connectionID, cleanroom.CapCreateModeledCohort); err2 != nil {
			return nil, err
		}
		kind = cleanroom.CohortModeled
	}
	_, use := capability(kind)
	if _, err := s.Conns.Usable(ctx, c, dataSourceID, use); err != nil {
		return nil, err
	}
	co := &cleanroom.Cohort{OrgID: c.OrgID(), Kind: kind, CreatedBy: c.UserID(),
		Targets: []cleanroom.CohortTarget{{ConnectionID: connectionID}}}
	sp := Spec{Kind: kind, Query: cleanroom.CohortQuery{Op: cleanroom.OpAny, Conditions: []cleanroom.Condition{{DataSource: dataSourceID}}}}
	co.Query, _ = json.Marshal(sp.Query)
	in, err := s.gather(ctx, co, &sp)
	if err != nil {
		return nil, err
	}
	ti := &in.Targets[0]
	if ti.Reason != "" {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "%s", ti.Reason)
	}
	if in.Sources[0].Version == nil {
		return nil, cleanroom.Errorf(cleanroom.ECONFLICT, "%s", in.Sources[0].Reason)
	}
	ev, err := s.evaluate(ctx, c, &sp, in, ti)
	if err != nil {
		return nil, err
	}
	d := s.diagnose(ctx, in, ti, ev)
	q := disclosure.Question{Kind: "data_source_diagnostics", Query: canonical(kind, sp.Query, nil, nil, false), Versions: []string{in.Digest}}
	if err := s.releaseDiagnostics(ctx, c, ti.Conn, q, d); err != nil {
		return nil, err
	}
	return d, nil
}
