package cohorts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/jobs"
	"github.com/cleanroom-oss/cleanroom/match"
	"github.com/cleanroom-oss/cleanroom/vault"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// KindMembers is the kind of the file that holds a cohort's members at one publisher.
const KindMembers = "cohort-members/v1"

type buildArgs struct {
	CohortID   string `json:"cohort_id"`
	Generation int64  `json:"generation"`
}

// Register adds the build job to a runner.
func (s *Service) Register(r *jobs.Runner) { r.Register(JobBuild, s.runBuild) }

// Nudge asks for an early Refresh (the periodic task that runs it waits on Nudged; OnNudge
// reaches the other processes): callers use it after a change cohorts may depend on (a grant
// given or revoked, a data source unlinked, a connection changed, a new version). It never
// blocks; a nil service does nothing.
func (s *Service) Nudge() {
	if s == nil {
		return
	}
	s.Wake()
	if s.OnNudge != nil {
		s.OnNudge()
	}
}

// source is one data source a query names, as a build finds it.
type source struct {
	ID string
	// DS and Version are set when the data source may be used and has data; otherwise Reason
	// says why it is left out.
	DS      *cleanroom.DataSource
	Version *cleanroom.Version
	Reason  string
}

// targetInput is what a build reads for one connection.
type targetInput struct {
	Conn    *cleanroom.Connection
	Pub     *cleanroom.Version
	Bridges []*cleanroom.Version
	// Reason says why the target cannot be built now (connection gone or suspended, permission
	// off, publisher without an audience).
	Reason string
}

// inputs is everything a cohort's build depends on, and a digest of it.
type inputs struct {
	Sources []source
	Targets []targetInput
	Digest  string
}

// systemCaller is who a build acts as: the cohort's workspace.
func systemCaller(co *cleanroom.Cohort) *cleanroom.Caller {
	return cleanroom.NewCaller(co.OrgID, cleanroom.RoleAdmin)
}

// gather looks up, as of now, what a build of co would read: data sources (with their grants
// checked), connections (with permissions and standing checked) and current versions.
func (s *Service) gather(ctx context.Context, co *cleanroom.Cohort, sp *Spec) (*inputs, error) {
	c := systemCaller(co)
	capab, use := capability(co.Kind)
	in := &inputs{}
	h := sha256.New()
	for _, id := range dataSourcesOf(sp.Query) {
		src := source{ID: id}
		ds, err := s.Conns.Usable(ctx, c, id, use)
		switch {
		case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
			src.Reason = "The data source was unlinked, or is no longer granted to this workspace."
		case err != nil && cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN:
			return nil, err
		case err != nil:
			src.Reason = cleanroom.ErrorMessage(err)
		default:
			src.DS = ds
			v, err := s.Store.CurrentVersion(ctx, id)
			switch {
			case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
				src.Reason = fmt.Sprintf("The data source %q has no processed upload yet.", ds.Name)
			case err != nil:
				return nil, err
			default:
				src.Version = v
			}
		}
		fmt.Fprintf(h, "source %s %s %q\n", id, versionID(src.Version), src.Reason)
		in.Sources = append(in.Sources, src)
	}
	pcs := publisherCohortsOf(sp.Query)
	for _, t := range co.Targets {
		ti := targetInput{}
		conn, err := s.Conns.Use(ctx, c, t.ConnectionID, capab)
		switch {
		case err != nil && cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND && cleanroom.ErrorCode(err) != cleanroom.EFORBIDDEN:
			return nil, err
		case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
			ti.Reason = "The connection was deleted."
		case err != nil:
			ti.Reason = cleanroom.ErrorMessage(err)
		default:
			ti.Conn = conn
			v, err := s.Store.CurrentVersion(ctx, conn.PublisherID)
			switch {
			case cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND:
				ti.Reason = "The publisher has not synced its audience yet."
			case err != nil:
				return nil, err
			default:
				ti.Pub = v
				if ti.Bridges, err = s.Pipeline.PublisherBridges(ctx, conn.PublisherID); err != nil {
					return nil, err
				}
			}
		}
		fmt.Fprintf(h, "target %s %q %s", t.ConnectionID, ti.Reason, versionID(ti.Pub))
		for _, b := range ti.Bridges {
			fmt.Fprintf(h, " bridge %s", b.ID)
		}
		if ti.Conn != nil && len(pcs) > 0 {
			// The publisher cohorts a query may use follow the permissions and opt-outs.
			perms, _ := json.Marshal(ti.Conn.Permissions)
			outs, err := s.Store.ListStandardOptOuts(ctx, ti.Conn.PublisherID)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(h, " perms %s optouts %s", perms, strings.Join(outs, ","))
		}
		fmt.Fprintln(h)
		in.Targets = append(in.Targets, ti)
	}
	fmt.Fprintf(h, "query %s country %s kind %s\n", co.Query, strings.Join(co.Country, ","), co.Kind)
	in.Digest = hex.EncodeToString(h.Sum(nil)[:16])
	return in, nil
}

func versionID(v *cleanroom.Version) string {
	if v == nil {
		return "-"
	}
	return v.ID
}

// evaluation is a query evaluated at one publisher.
type evaluation struct {
	Pub     *vault.PublisherVersion
	Members *roaring.Bitmap
	Results map[string]*match.Result
	// Left lists what the query could not use there, each with why.
	Left []string
}

// evaluate matches the usable data sources against the target's publisher version and
// evaluates the query (with geo-lock) there. Data sources and publisher cohorts that may not be
// used count as empty, and are listed in Left.
func (s *Service) evaluate(ctx context.Context, c *cleanroom.Caller, sp *Spec, in *inputs, ti *targetInput) (*evaluation, error) {
	pub, err := s.publisherVersion(ctx, ti.Pub)
	if err != nil {
		return nil, err
	}
	br, err := s.bridges(ctx, ti.Bridges)
	if err != nil {
		return nil, err
	}
	ev := &evaluation{Pub: pub, Results: map[string]*match.Result{}}
	minRows, err := s.inputMinimum(ctx, ti.Conn)
	if err != nil {
		return nil, err
	}
	for _, src := range in.Sources {
		if src.Version == nil {
			ev.Left = append(ev.Left, fmt.Sprintf("Data source %s left out: %s", src.ID, src.Reason))
			continue
		}
		if src.Version.Rows < minRows {
			// A data source of a few people would make any count that uses it a question about
			// those people (set differencing); see docs/PRIVACY.md.
			ev.Left = append(ev.Left, fmt.Sprintf("Data source %s left out: it has fewer than %d identifier rows, the smallest input the privacy settings allow.",
				src.ID, minRows))
			continue
		}
		adv, err := s.advertiserVersion(ctx, src.Version)
		if err != nil {
			return nil, err
		}
		res, err := match.Segments(adv, pub, match.Options{Workers: s.Workers, Bridges: br})
		if err != nil {
			return nil, err
		}
		ev.Results[src.ID] = res
	}
	denied := map[string]bool{}
	for _, id := range publisherCohortsOf(sp.Query) {
		i, ok := pub.CohortIndex(id)
		if !ok {
			denied[id] = true
			ev.Left = append(ev.Left, fmt.Sprintf("Publisher cohort %s left out: the publisher no longer has it.", id))
			continue
		}
		if err := s.checkPublisherCohort(ctx, ti.Conn, c, id, pub.Cohorts[i].Standard); err != nil {
			denied[id] = true
			ev.Left = append(ev.Left, fmt.Sprintf("Publisher cohort %s left out: %s", id, cleanroom.ErrorMessage(err)))
		}
	}
	lookup := func(cond cleanroom.Condition) (*roaring.Bitmap, error) {
		if cond.PublisherCohort != "" {
			if denied[cond.PublisherCohort] {
				return nil, nil
			}
			i, _ := pub.CohortIndex(cond.PublisherCohort)
			return pub.Members[i], nil
		}
		r, ok := ev.Results[cond.DataSource]
		if !ok {
			return nil, nil
		}
		b, ok := r.Segment(cond.Segment)
		if !ok {
			ev.Left = append(ev.Left, fmt.Sprintf("Segment %s of data source %s left out: the data source's current upload has no such segment.",
				cond.Segment, cond.DataSource))
			return nil, nil
		}
		return b, nil
	}
	q := sp.Query
	q.Country = sp.Country
	if ev.Members, err = match.Evaluate(q, lookup, pub); err != nil {
		return nil, err
	}
	slices.Sort(ev.Left)
	ev.Left = slices.Compact(ev.Left)
	return ev, nil
}

// runBuild is the cohort.build job.
func (s *Service) runBuild(ctx context.Context, job *cleanroom.Job, report func(cleanroom.Progress)) error {
	var args buildArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return cleanroom.Errorf(cleanroom.EINVALID, "bad job arguments: %v", err)
	}
	co, err := s.Store.FindCohort(ctx, args.CohortID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil // deleted since
	} else if err != nil {
		return err
	}
	if co.Generation != args.Generation {
		return nil // a newer build is queued
	}
	err = s.build(ctx, co, report)
	if err == nil || cleanroom.ErrorCode(err) == cleanroom.ECONFLICT && co.Generation != s.generation(ctx, co.ID) {
		return nil
	}
	failed, msg := cleanroom.CohortFailed, jobs.UserMessage(job, err)
	if cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		msg = "The build failed: " + msg
	}
	gen := co.Generation
	s.Store.UpdateCohort(context.WithoutCancel(ctx), co.ID, cleanroom.CohortUpdate{Status: &failed, StatusReason: &msg, IfGeneration: &gen}, s.now())
	return err
}

func (s *Service) generation(ctx context.Context, id string) int64 {
	co, err := s.Store.FindCohort(ctx, id)
	if err != nil {
		return -1
	}
	return co.Generation
}

// build builds every target of co's current generation and records the result, unless the
// cohort moved on to another generation meanwhile (ECONFLICT).
func (s *Service) build(ctx context.Context, co *cleanroom.Cohort, report func(cleanroom.Progress)) error {
	sp, err := specOf(co)
	if err != nil {
		return err
	}
	in, err := s.gather(ctx, co, &sp)
	if err != nil {
		return err
	}
	gen := co.Generation
	progress := func(done float64, msg string) {
		report(cleanroom.Progress{Done: int64(done * 1000), Total: 1000, Message: msg})
		s.Store.UpdateCohort(ctx, co.ID, cleanroom.CohortUpdate{Progress: &done, IfGeneration: &gen}, s.now())
	}
	paused := co.Status == cleanroom.CohortPaused
	reuseModels := in.Digest == co.Inputs
	c := systemCaller(co)
	targets := slices.Clone(co.Targets)
	var written, notes []string
	awaiting := false
	cleanup := func() {
		for _, k := range written {
			s.versions().DeleteFile(context.WithoutCancel(ctx), versions.File{Key: k})
		}
	}
	for i := range targets {
		t, ti := &targets[i], &in.Targets[i]
		step := func(f float64, msg string) { progress((float64(i)+f)/float64(len(targets)), msg) }
		step(0, "Matching")
		t.Size, t.Seeds, t.Active, t.Reason, t.BlobKey, t.WrappedKey = 0, 0, false, "", "", nil
		t.Diagnostics = nil
		if ti.Reason != "" {
			t.Reason = ti.Reason
			if co.Kind == cleanroom.CohortModeled && !reuseModels {
				t.Model = nil
			}
			continue
		}
		ev, err := s.evaluate(ctx, c, &sp, in, ti)
		if err != nil {
			cleanup()
			return err
		}
		notes = append(notes, ev.Left...)
		if t.Diagnostics, err = json.Marshal(s.diagnose(ctx, in, ti, ev)); err != nil {
			cleanup()
			return err
		}
		members := ev.Members
		if co.Kind == cleanroom.CohortModeled {
			var model json.RawMessage
			if reuseModels {
				model = t.Model
			}
			m, err := s.model(ctx, co, ti.Conn, in.Digest, ev, model, func(f float64) { step(0.1+0.8*f, "Training") })
			if err != nil {
				cleanup()
				return err
			}
			t.Model, t.Seeds = m.Model, int64(ev.Members.GetCardinality())
			if m.Members == nil {
				awaiting = true
				t.Reason = "Waiting for a similarity to be chosen."
				continue
			}
			members = m.Members
		}
		f, err := s.writeMembers(ctx, co, fmt.Sprintf("%s-%d", t.ConnectionID, gen), members, ev.Pub.Users, ti.Pub.ID)
		if err != nil {
			cleanup()
			return err
		}
		t.BlobKey, t.WrappedKey = f.Key, f.WrappedKey
		written = append(written, t.BlobKey)
		t.Size, t.BuiltAt = int64(members.GetCardinality()), s.now()
		big, err := s.servable(ctx, ti.Conn, co, in.Digest, t.Size)
		if err != nil {
			cleanup()
			return err
		}
		s.activate(t, paused, big)
	}
	status, reason := settle(targets, paused, awaiting)
	if len(notes) > 0 {
		slices.Sort(notes)
		notes = slices.Compact(notes)
		reason = strings.TrimSpace(reason + " Built without: " + strings.Join(notes, " "))
	}
	one, now := 1.0, s.now()
	_, err = s.Store.UpdateCohort(ctx, co.ID, cleanroom.CohortUpdate{Status: &status, StatusReason: &reason, Progress: &one,
		Inputs: &in.Digest, BuiltAt: &now, Targets: &targets, IfGeneration: &gen}, now)
	if err != nil {
		cleanup()
		return err
	}
	for _, t := range co.Targets { // the previous build's files
		if t.BlobKey != "" && !slices.Contains(written, t.BlobKey) {
			s.versions().DeleteFile(context.WithoutCancel(ctx), versions.File{Key: t.BlobKey})
		}
	}
	return nil
}

// writeMembers stores a member bitmap as the cohort's file name, encrypted under a fresh data key.
// The audience version it was built on is kept in its meta (active users are counted on it).
func (s *Service) writeMembers(ctx context.Context, co *cleanroom.Cohort, name string, b *roaring.Bitmap, users uint32, pubVersion string) (versions.File, error) {
	b.RunOptimize()
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		return versions.File{}, err
	}
	meta := map[string]any{"users": users, "members": b.GetCardinality(), "pub_version": pubVersion}
	return s.versions().PutFile(ctx, versions.CohortOwner(co), name, func(ctx context.Context, blobs cleanroom.BlobStore, key string, dataKey []byte) (int64, error) {
		return vault.Write(ctx, blobs, key, dataKey, KindMembers, meta, []vault.Section{{Name: "members", Data: buf.Bytes()}})
	})
}

// Members returns a built target's member bitmap. Returns ENOTFOUND when it has none.
func (s *Service) Members(ctx context.Context, t *cleanroom.CohortTarget) (*roaring.Bitmap, error) {
	if t.BlobKey == "" {
		return nil, cleanroom.Errorf(cleanroom.ENOTFOUND, "The cohort has no members at this publisher yet.")
	}
	b, _, err := s.membersOn(ctx, t)
	return b, err
}

// membersOn returns a built target's member bitmap and the ID of the audience version its
// ordinals are of ("" for a file written before it was recorded).
func (s *Service) membersOn(ctx context.Context, t *cleanroom.CohortTarget) (*roaring.Bitmap, string, error) {
	if t.BlobKey == "" {
		return nil, "", cleanroom.Errorf(cleanroom.ENOTFOUND, "The cohort has no members at this publisher yet.")
	}
	f, err := s.versions().OpenFile(ctx, versions.Cohort, versions.File{Key: t.BlobKey, WrappedKey: t.WrappedKey}, KindMembers)
	if err != nil {
		return nil, "", err
	}
	b := roaring.New()
	if _, err := b.ReadFrom(bytes.NewReader(f.Bytes("members"))); err != nil {
		return nil, "", fmt.Errorf("cohorts: members of %s: %w", t.BlobKey, err)
	}
	var meta struct {
		PubVersion string `json:"pub_version"`
	}
	f.DecodeMeta(&meta) //nolint:errcheck // an old file without it is read on the current version
	return b, meta.PubVersion, nil
}

// Refresh rebuilds every settled cohort whose inputs changed since its last build: a new
// version of a data source or of a publisher's audience (an erasure makes one), a grant that
// expired or was revoked, an unlinked data source, a connection changed, suspended or deleted.
// It returns how many builds it queued. Servers call it periodically and after such changes.
func (s *Service) Refresh(ctx context.Context) (int, error) {
	n := 0
	p := cleanroom.Page{Limit: cleanroom.MaxPageLimit}
	for {
		cs, next, err := s.Store.ListCohorts(ctx, cleanroom.CohortFilter{Page: p})
		if err != nil {
			return n, err
		}
		for _, co := range cs {
			queued, err := s.refresh(ctx, co)
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
		p.After = next
	}
}

func (s *Service) refresh(ctx context.Context, co *cleanroom.Cohort) (bool, error) {
	if co.Status == cleanroom.CohortBuilding || co.Status == cleanroom.CohortTraining {
		return false, nil // a build is under way; it reads the inputs as they are when it runs
	}
	sp, err := specOf(co)
	if err != nil {
		return false, err
	}
	in, err := s.gather(ctx, co, &sp)
	if err != nil {
		return false, err
	}
	if in.Digest == co.Inputs {
		return false, nil
	}
	upd := cleanroom.CohortUpdate{BumpGeneration: true, IfGeneration: &co.Generation}
	if co.Status != cleanroom.CohortPaused {
		status := cleanroom.CohortBuilding
		if co.Kind == cleanroom.CohortModeled {
			status = cleanroom.CohortTraining
		}
		upd.Status = &status
	}
	co, err = s.Store.UpdateCohort(ctx, co.ID, upd, s.now())
	if cleanroom.ErrorCode(err) == cleanroom.ECONFLICT || cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, s.enqueue(ctx, co)
}
