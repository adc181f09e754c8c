package activation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/edge"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// JobPublish is the kind of the job that builds and publishes a publisher's edge snapshot.
const JobPublish = "edge.publish"

// ManifestPrefix is where the manifests live in the blob store: ManifestPrefix + publisher ID +
// "/manifest.json". An edge lists them and loads what changed (package edgehttp).
const ManifestPrefix = "edge/"

// ManifestKey returns the blob key of a publisher's manifest.
func ManifestKey(publisherID string) string { return ManifestPrefix + publisherID + "/manifest.json" }

// Manifest is what an edge serves a publisher with: the snapshot file (its data key wrapped by
// the master key), the answer's format, the page settings and the caps. It is written whole over
// the previous one (the blob store's Put is atomic), which is the swap: an edge that reads it
// loads the new snapshot beside the old one and then swaps. It holds no user ID and no hash.
type Manifest struct {
	PublisherID string `json:"publisher_id"`
	// Digest identifies the inputs (see plan): an unchanged digest needs no new snapshot.
	Digest      string    `json:"digest"`
	PublishedAt time.Time `json:"published_at"`
	// PubVersion is the audience version the snapshot was built from.
	PubVersion string `json:"pub_version,omitempty"`
	// SnapshotKey and WrappedKey locate the snapshot (empty when nothing is served).
	SnapshotKey string `json:"snapshot_key,omitempty"`
	WrappedKey  []byte `json:"wrapped_key,omitempty"`
	Users       int    `json:"users"`
	Memberships int    `json:"memberships"`

	GAMKey        string   `json:"gam_key"`
	XandrKey      string   `json:"xandr_key"`
	DataName      string   `json:"data_name"`
	Segtax        int      `json:"segtax,omitempty"`
	Origins       []string `json:"origins"`
	UIDCookie     string   `json:"uid_cookie,omitempty"`
	UIDStorageKey string   `json:"uid_storage_key,omitempty"`
	TimeZone      string   `json:"time_zone,omitempty"`

	Caps      []ManifestCap     `json:"caps,omitempty"`
	LineItems map[string]uint32 `json:"line_items,omitempty"`
	// Deals maps Xandr deal IDs to codes, as LineItems does GAM line items.
	Deals map[string]uint32 `json:"deals,omitempty"`
	// Served lists the codes served, with the cohort and connection and since when; Withheld the
	// cohorts built for the publisher that are not, with why.
	Served   []ServedCode   `json:"served"`
	Withheld []WithheldCode `json:"withheld,omitempty"`
}

// ManifestCap is a frequency cap as the edge applies it.
type ManifestCap struct {
	Code   uint32 `json:"code"`
	Limit  uint32 `json:"limit"`
	Period string `json:"period"`
}

// ServedCode is a code the snapshot serves.
type ServedCode struct {
	Code         uint32    `json:"code"`
	CohortID     string    `json:"cohort_id"`
	ConnectionID string    `json:"connection_id"`
	Members      int64     `json:"-"`
	Since        time.Time `json:"since"`
}

// WithheldCode is a cohort built for the publisher and not served, with why.
type WithheldCode struct {
	Code         uint32 `json:"code"`
	CohortID     string `json:"cohort_id"`
	ConnectionID string `json:"connection_id"`
	Reason       string `json:"reason"`
}

func (m *Manifest) served(cohortID, connectionID string) *ServedCode {
	for i := range m.Served {
		if m.Served[i].CohortID == cohortID && m.Served[i].ConnectionID == connectionID {
			return &m.Served[i]
		}
	}
	return nil
}

func (m *Manifest) reason(cohortID, connectionID string) string {
	for _, w := range m.Withheld {
		if w.CohortID == cohortID && w.ConnectionID == connectionID {
			return w.Reason
		}
	}
	if m.Digest == "" {
		return "The edge has not published a snapshot for this publisher yet."
	}
	return "Not in the edge's current snapshot yet."
}

// Config returns the edge configuration of the manifest.
func (m *Manifest) Config() (edge.Config, edge.Format, error) {
	loc := time.UTC
	if m.TimeZone != "" {
		l, err := time.LoadLocation(m.TimeZone)
		if err != nil {
			return edge.Config{}, edge.Format{}, fmt.Errorf("activation: manifest of %s: time zone: %w", m.PublisherID, err)
		}
		loc = l
	}
	cfg := edge.Config{Location: loc, LineItems: m.LineItems, Deals: m.Deals}
	for _, c := range m.Caps {
		p, ok := edge.ParsePeriod(c.Period)
		if !ok {
			return edge.Config{}, edge.Format{}, fmt.Errorf("activation: manifest of %s: period %q", m.PublisherID, c.Period)
		}
		cfg.Caps = append(cfg.Caps, edge.Cap{Code: c.Code, Limit: c.Limit, Period: p})
	}
	return cfg, edge.Format{GAMKey: m.GAMKey, XandrKey: m.XandrKey, Name: m.DataName, Segtax: m.Segtax}, nil
}

// ReadManifest reads a publisher's manifest from blobs; a publisher without one gets an empty
// manifest (nothing served).
func ReadManifest(ctx context.Context, blobs cleanroom.BlobStore, publisherID string) (*Manifest, error) {
	r, err := blobs.Open(ctx, ManifestKey(publisherID))
	if err != nil {
		if isNotFound(err) {
			return &Manifest{PublisherID: publisherID, Served: []ServedCode{}}, nil
		}
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("activation: manifest of %s: %w", publisherID, err)
	}
	return &m, nil
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, cleanroom.ErrBlobNotFound) }

// Manifest returns a publisher's current manifest.
func (s *Service) Manifest(ctx context.Context, publisherID string) (*Manifest, error) {
	return ReadManifest(ctx, s.Versions.Blobs, publisherID)
}

// candidate is a cohort target the plan serves.
type candidate struct {
	co   *cleanroom.Cohort
	t    cleanroom.CohortTarget
	deal *cleanroom.Deal
	// carry takes the members from the previous snapshot, by user hash: the cohort is being
	// rebuilt on a new audience version and nothing it may use changed.
	carry bool
}

// plan is what a publisher's next snapshot serves, decided by the serving rule, and its digest.
type plan struct {
	m          *Manifest
	pub        *cleanroom.Version
	candidates []candidate
}

// plan decides, as of now, what the publisher's edge serves.
func (s *Service) plan(ctx context.Context, publisherID string, prev *Manifest) (*plan, error) {
	st, err := s.settings(ctx, publisherID)
	if err != nil {
		return nil, err
	}
	m := &Manifest{PublisherID: publisherID, GAMKey: st.GAMKey, XandrKey: st.XandrKey, DataName: s.DataName, Segtax: s.Segtax,
		Origins: st.Origins, UIDCookie: st.UIDCookie, UIDStorageKey: st.UIDStorageKey, TimeZone: st.TimeZone,
		Served: []ServedCode{}, LineItems: map[string]uint32{}}
	p := &plan{m: m}
	if p.pub, err = s.Store.CurrentVersion(ctx, publisherID); err != nil && cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "settings %s %s %s %d %s %s %s %s\n", st.GAMKey, st.XandrKey, s.DataName, s.Segtax,
		strings.Join(st.Origins, " "), st.UIDCookie, st.UIDStorageKey, st.TimeZone)
	if p.pub != nil {
		fmt.Fprintf(h, "version %s\n", p.pub.ID)
	}
	// A cohort may be carried over from the previous snapshot only while the audience version
	// that snapshot was built from still exists: an erasure deletes every older version, so after
	// one nothing is carried (a user erased and then identified again must not get back the codes
	// of before), and neither after several versions (pruned) in between.
	carryFrom := prev
	if prev == nil || prev.PubVersion == "" || p.pub == nil {
		carryFrom = nil
	} else if prev.PubVersion != p.pub.ID {
		vs, err := s.Store.ListVersions(ctx, publisherID)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(vs, func(v *cleanroom.Version) bool { return v.ID == prev.PubVersion }) {
			carryFrom = nil
		}
	}
	acts, err := s.Store.ListCohortActivations(ctx, "", publisherID)
	if err != nil {
		return nil, err
	}
	pg := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := s.Store.ListCohorts(ctx, cleanroom.CohortFilter{PublisherID: publisherID, Page: pg})
		if err != nil {
			return nil, err
		}
		for _, co := range cs {
			for _, t := range co.Targets {
				if t.PublisherID != publisherID {
					continue
				}
				var a *cleanroom.CohortActivation
				for _, x := range acts {
					if x.CohortID == co.ID && x.ConnectionID == t.ConnectionID {
						a = x
					}
				}
				reason, carry, err := s.withheld(ctx, co, &t, a, p.pub, carryFrom)
				if err != nil {
					return nil, err
				}
				if reason != "" {
					m.Withheld = append(m.Withheld, WithheldCode{Code: uint32(t.Code), CohortID: co.ID, ConnectionID: t.ConnectionID, Reason: reason})
					continue
				}
				if carry {
					// Not the previous snapshot's key: the carry publishes a new one, which carries
					// the same members; the audience version (above) says when to carry again.
					fmt.Fprintf(h, "carry %d %s %s\n", t.Code, co.ID, t.ConnectionID)
				} else {
					fmt.Fprintf(h, "serve %d %s %s %s\n", t.Code, co.ID, t.ConnectionID, t.BlobKey)
				}
				m.Served = append(m.Served, ServedCode{Code: uint32(t.Code), CohortID: co.ID, ConnectionID: t.ConnectionID})
				c := candidate{co: co, t: t, carry: carry}
				if a != nil && a.Programmatic {
					c.deal = a.Deal
				}
				p.candidates = append(p.candidates, c)
				if err := s.capOf(ctx, m, c, h); err != nil {
					return nil, err
				}
			}
		}
		if next == "" {
			break
		}
		pg.After = next
	}
	m.Digest = hex.EncodeToString(h.Sum(nil)[:16])
	return p, nil
}

// withheld returns why a cohort's target is not served now ("" when it is): the serving rule.
// carry says it is served with its members of the previous snapshot (prev), by user hash: the
// cohort is being rebuilt, yet nothing it may use changed (its connection, permission and data
// are all still allowed now; only versions are new), and the previous snapshot served it.
// Erased users are not carried: the new snapshot holds only the current version's users.
func (s *Service) withheld(ctx context.Context, co *cleanroom.Cohort, t *cleanroom.CohortTarget, a *cleanroom.CohortActivation,
	pub *cleanroom.Version, prev *Manifest) (reason string, carry bool, err error) {
	rebuilding := co.Status == cleanroom.CohortBuilding || co.Status == cleanroom.CohortTraining
	switch {
	case co.Status == cleanroom.CohortPaused:
		return "The cohort is paused.", false, nil
	case co.Status != cleanroom.CohortActive && !rebuilding:
		return fmt.Sprintf("The cohort is %s.", strings.ReplaceAll(string(co.Status), "_", " ")), false, nil
	case !t.Active:
		return "Not active at this publisher: " + t.Reason, false, nil
	case a == nil || !a.On():
		return "Both activation switches are off.", false, nil
	case pub == nil:
		return "The publisher has not synced its audience.", false, nil
	}
	st, err := s.Cohorts.Standing(ctx, co)
	if err != nil {
		return "", false, err
	}
	if r := st.Targets[t.ConnectionID]; r != "" {
		return r, false, nil
	}
	// Current: built on what is there now, pub included (a new audience version may come
	// between reading it here and the check; the member file must be on the snapshot's version).
	if !rebuilding && st.Current && st.Publisher[t.ConnectionID] == pub.ID {
		return "", false, nil
	}
	if st.SourcesUsable && prev != nil && prev.SnapshotKey != "" {
		if sc := prev.served(co.ID, t.ConnectionID); sc != nil && int64(sc.Code) == t.Code {
			return "", true, nil
		}
	}
	return "What the cohort was built from changed (a grant, a permission, its data or its definition); it is served again once rebuilt.", false, nil
}

// capOf adds a served cohort's cap (and the line items it counts through) to the manifest.
func (s *Service) capOf(ctx context.Context, m *Manifest, c candidate, h io.Writer) error {
	if c.deal == nil || len(c.deal.LineItems) == 0 && len(c.deal.XandrDeals) == 0 {
		return nil
	}
	for _, li := range c.deal.LineItems {
		m.LineItems[li.ID] = uint32(c.t.Code)
		fmt.Fprintf(h, "line item %s %d\n", li.ID, c.t.Code)
	}
	for _, id := range c.deal.XandrDeals {
		if m.Deals == nil {
			m.Deals = map[string]uint32{}
		}
		m.Deals[id] = uint32(c.t.Code)
		fmt.Fprintf(h, "xandr deal %s %d\n", id, c.t.Code)
	}
	f, err := s.Store.FindFrequencyCap(ctx, c.co.ID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	m.Caps = append(m.Caps, ManifestCap{Code: uint32(c.t.Code), Limit: uint32(f.MaxImpressions), Period: string(f.Period)})
	fmt.Fprintf(h, "cap %d %d %s\n", c.t.Code, f.MaxImpressions, f.Period)
	return nil
}

type publishArgs struct {
	PublisherID string `json:"publisher_id"`
}

// Register adds the publish job to a runner.
func (s *Service) Register(r *jobs.Runner) { r.Register(JobPublish, s.runPublish) }

func (s *Service) runPublish(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error {
	var args publishArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return cleanroom.Errorf(cleanroom.EINVALID, "bad job arguments: %v", err)
	}
	// A check while this job runs (a switch turned on, say) queues no other job; the job
	// publishes again instead, so the change is served now rather than at the next check.
	for range 10 {
		s.mu.Lock()
		delete(s.rerun, args.PublisherID)
		s.mu.Unlock()
		if _, err := s.Publish(ctx, args.PublisherID); err != nil {
			return err
		}
		s.mu.Lock()
		again := s.rerun[args.PublisherID]
		s.mu.Unlock()
		if !again {
			break
		}
	}
	return nil
}

// Publish builds the publisher's snapshot from its current audience version and the member
// files of the cohorts the rule serves, stores it through the version store, and writes the
// manifest that makes edges swap it in; the previous snapshot file is deleted. Nothing is built
// when the inputs are those of the current manifest. It returns the manifest in force.
// Publishes of one publisher run one at a time (serial job key).
func (s *Service) Publish(ctx context.Context, publisherID string) (*Manifest, error) {
	prev, err := s.Manifest(ctx, publisherID)
	if err != nil {
		return nil, err
	}
	p, err := s.plan(ctx, publisherID, prev)
	if err != nil {
		return nil, err
	}
	m := p.m
	if m.Digest == prev.Digest {
		return prev, nil
	}
	now := s.now()
	m.PublishedAt = now
	if p.pub != nil {
		m.PubVersion = p.pub.ID
	}
	for i := range m.Served {
		m.Served[i].Since = now
		if sc := prev.served(m.Served[i].CohortID, m.Served[i].ConnectionID); sc != nil && sc.Code == m.Served[i].Code {
			m.Served[i].Since = sc.Since
		}
	}
	if p.pub != nil && len(p.candidates) > 0 {
		pv, err := s.Versions.OpenPublisher(ctx, p.pub)
		if err != nil {
			return nil, err
		}
		in := edge.InputFromVersion(pv, nil)
		var old *edge.Snapshot
		for _, c := range p.candidates {
			var b *roaring.Bitmap
			if c.carry {
				if old == nil {
					f, err := s.Versions.OpenOwnedFile(ctx, versions.SnapshotOwner(publisherID), versions.File{Key: prev.SnapshotKey, WrappedKey: prev.WrappedKey}, edge.KindSnapshot)
					if err != nil {
						return nil, err
					}
					if old, err = edge.FromFile(f); err != nil {
						return nil, err
					}
				}
				b = carried(old, uint32(c.t.Code), pv.UserKeys, pv.UserOrds)
			} else if b, err = s.Cohorts.Members(ctx, &c.t); err != nil {
				return nil, err
			}
			in.Cohorts = append(in.Cohorts, edge.ServedCohort{Code: uint32(c.t.Code), Members: b})
		}
		snap, err := edge.Build(in)
		if err != nil {
			return nil, err
		}
		m.Users, m.Memberships = snap.Users(), snap.Memberships()
		f, err := s.Versions.PutFile(ctx, versions.SnapshotOwner(publisherID), fmt.Sprintf("%d", now.UnixNano()), snap.Write)
		if err != nil {
			return nil, err
		}
		m.SnapshotKey, m.WrappedKey = f.Key, f.WrappedKey
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if _, err := s.Versions.Blobs.Put(ctx, ManifestKey(publisherID), bytes.NewReader(b)); err != nil {
		if m.SnapshotKey != "" {
			s.Versions.DeleteFile(context.WithoutCancel(ctx), versions.File{Key: m.SnapshotKey})
		}
		return nil, err
	}
	// Older snapshots go: one of them may hold users an erasure removed since.
	keys, err := s.Versions.Blobs.List(ctx, versions.SnapshotOwner(publisherID).Prefix())
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k != m.SnapshotKey {
			s.Versions.DeleteFile(ctx, versions.File{Key: k})
		}
	}
	s.Logger.Info("edge snapshot published", "publisher", publisherID, "users", m.Users, "codes", len(m.Served))
	if s.Published != nil {
		s.Published(publisherID)
	}
	return m, nil
}

// carried returns the ordinals, in the version whose user index is keys and ords (sorted by
// key), of the users old serves code to; users the version no longer has (erased) are left out.
func carried(old *edge.Snapshot, code uint32, keys []uint64, ords []uint32) *roaring.Bitmap {
	b := roaring.New()
	old.ForEachUser(code, func(h uint64) {
		if j, ok := slices.BinarySearch(keys, h); ok {
			b.Add(ords[j])
		}
	})
	return b
}

// Nudge asks for an early Check (the periodic task that runs it waits on Nudged; OnNudge reaches
// the other processes). It never blocks; a nil service does nothing.
func (s *Service) Nudge() {
	if s == nil {
		return
	}
	s.Wake()
	if s.OnNudge != nil {
		s.OnNudge()
	}
}

// Check queues a publish job for every publisher whose plan differs from its manifest (and has
// none queued) and returns how many it queued.
func (s *Service) Check(ctx context.Context) (int, error) {
	n := 0
	pg := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		orgs, next, err := s.Store.ListOrgs(ctx, pg)
		if err != nil {
			return n, err
		}
		for _, o := range orgs {
			if o.Kind != cleanroom.OrgPublisher {
				continue
			}
			queued, err := s.check(ctx, o.ID)
			if err != nil {
				return n, err
			}
			if queued {
				n++
			}
		}
		if next == "" {
			return n, nil
		}
		pg.After = next
	}
}

func (s *Service) check(ctx context.Context, publisherID string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.pending[publisherID]; ok {
		j, err := s.Store.FindJob(ctx, id)
		if err == nil && (j.State == cleanroom.JobQueued || j.State == cleanroom.JobRunning) {
			if j.State == cleanroom.JobRunning {
				if s.rerun == nil {
					s.rerun = map[string]bool{}
				}
				s.rerun[publisherID] = true
			}
			return false, nil
		}
		delete(s.pending, publisherID)
	}
	prev, err := s.Manifest(ctx, publisherID)
	if err != nil {
		return false, err
	}
	p, err := s.plan(ctx, publisherID, prev)
	if err != nil {
		return false, err
	}
	if p.m.Digest == prev.Digest || prev.Digest == "" && len(p.m.Served)+len(p.m.Withheld) == 0 {
		return false, nil
	}
	args, _ := json.Marshal(publishArgs{PublisherID: publisherID})
	j := &cleanroom.Job{Kind: JobPublish, OrgID: publisherID, Args: args, SerialKey: "edge:" + publisherID, MaxAttempts: 3}
	if err := s.Jobs.Enqueue(ctx, j); err != nil {
		return false, err
	}
	s.pending[publisherID] = j.ID
	return true, nil
}
