package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/bridge"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/pubsync"
	"github.com/cleanroom-oss/cleanroom/vault"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// The engines the pipeline runs. Each engine call is a single line, so that the engines' own
// reading of rows can change without touching the pipeline.

// dataSourceFile is an advertiser data file: a new version of the data source.
type dataSourceFile struct{ s *Service }

type dataSourceState struct {
	v   *ingest.Version
	rep *ingest.Report
}

// Close removes the ingest's temporary files.
func (st dataSourceState) Close() error { return st.v.Close() }

func (e dataSourceFile) owner(ctx context.Context, u *cleanroom.Upload) (versions.Owner, error) {
	ds, err := e.s.Store.FindDataSource(ctx, u.TargetID)
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return versions.Owner{}, cleanroom.Errorf(cleanroom.EINVALID, "The data source was unlinked before its upload was processed.")
	} else if err != nil {
		return versions.Owner{}, err
	}
	return versions.DataSourceOwner(ds), nil
}

func (e dataSourceFile) read(ctx context.Context, u *cleanroom.Upload, in io.Reader, progress func(cleanroom.Progress)) (state, report any, err error) {
	tax, err := DataSourceTaxonomy(ctx, e.s.Store, u.TargetID)
	if err != nil {
		return nil, nil, err
	}
	fp, _ := e.s.keys()
	opt := ingest.Options{FingerprintKey: fp, MaxErrorRate: u.MaxErrorRate, Limits: e.s.FileLimits,
		MemoryBudget: e.s.IngestMemory, TempDir: e.s.TempDir, Progress: func(p ingest.Progress) {
			progress(cleanroom.Progress{Done: min(p.BytesRead, u.Size), Total: u.Size, Message: fmt.Sprintf("%d rows read", p.Rows)})
		}}
	v, rep, err := ingest.Advertiser(ctx, in, tax, opt)
	if err != nil {
		return nil, reportOf(rep), err
	}
	return dataSourceState{v, rep}, rep, nil
}

func (e dataSourceFile) build(ctx context.Context, u *cleanroom.Upload, state any, base *cleanroom.Version) (*draft, error) {
	st := state.(dataSourceState)
	stats, _ := json.Marshal(map[string]any{"per_tag": st.rep.PerTag, "per_segment": st.rep.PerSegment, "rows_accepted": st.rep.RowsAccepted})
	return &draft{write: st.v.Write, rec: versions.Record{Rows: st.v.Rows(), Stats: stats, UploadID: u.ID}, report: st.rep}, nil
}

func (e dataSourceFile) done(ctx context.Context, u *cleanroom.Upload, o versions.Owner, ver *cleanroom.Version) error {
	ready := cleanroom.DataSourceReady
	_, err := e.s.Store.UpdateDataSource(ctx, o.ID, cleanroom.DataSourceUpdate{Status: &ready}, e.s.now())
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		// Unlinked while the version was being made: shred what was just stored.
		_, err = e.s.Versions.Shred(ctx, o)
		return err
	}
	if err != nil {
		return err
	}
	return e.s.Versions.Prune(ctx, o, keepVersions)
}

// failed puts the data source back to ready when its previous version stays in use, else failed.
func (e dataSourceFile) failed(ctx context.Context, u *cleanroom.Upload, o versions.Owner) error {
	st := cleanroom.DataSourceFailed
	if _, err := e.s.Versions.Current(ctx, o); err == nil {
		st = cleanroom.DataSourceReady
	}
	_, err := e.s.Store.UpdateDataSource(ctx, o.ID, cleanroom.DataSourceUpdate{Status: &st}, e.s.now())
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		return nil
	}
	return err
}

// profileFile is a publisher's bulk profile file: a new audience that replaces the current one.
type profileFile struct{ s *Service }

type profileState struct {
	v   *vault.PublisherVersion
	rep *pubsync.Report
}

func (e profileFile) owner(ctx context.Context, u *cleanroom.Upload) (versions.Owner, error) {
	return versions.PublisherOwner(u.TargetID), nil
}

func (e profileFile) read(ctx context.Context, u *cleanroom.Upload, in io.Reader, progress func(cleanroom.Progress)) (state, report any, err error) {
	tax, err := LoadPublisherTaxonomy(ctx, e.s.Store, u.TargetID)
	if err != nil {
		return nil, nil, err
	}
	opt := e.s.PublisherOptions()
	opt.MaxErrorRate = u.MaxErrorRate
	opt.Progress = func(p pubsync.Progress) {
		progress(cleanroom.Progress{Done: min(p.Bytes, u.Size), Total: u.Size, Message: p.Phase})
	}
	v, rep, err := pubsync.Sync(ctx, in, tax, opt)
	if err != nil {
		return nil, reportOf(rep), err
	}
	if v.Live() == 0 {
		return nil, rep, cleanroom.Errorf(cleanroom.EINVALID,
			"The file has no users (%d data rows), and a profile file replaces the whole audience, so it was refused. Send a file with the whole audience; to remove users, use POST /v1/publisher/erasures.", rep.Rows)
	}
	return profileState{v, rep}, rep, nil
}

// build refuses, unless the upload confirms it, a file that would shrink the audience to less than
// half of the current one.
func (e profileFile) build(ctx context.Context, u *cleanroom.Upload, state any, base *cleanroom.Version) (*draft, error) {
	st := state.(profileState)
	if cur := liveUsers(base); !u.ConfirmDrop && int64(st.v.Live())*2 < cur {
		return nil, cleanroom.Errorf(cleanroom.EINVALID,
			`The file has %d users; the current audience has %d. Syncing it would drop more than half of the audience, so it was refused. If that is intended, upload the file again with "confirm_drop": true when beginning the upload (POST /v1/publisher/uploads).`,
			st.v.Live(), cur)
	}
	return publisherDraft(st.v, st.rep, u.ID), nil
}

func (e profileFile) done(ctx context.Context, u *cleanroom.Upload, o versions.Owner, ver *cleanroom.Version) error {
	return e.s.Versions.Prune(ctx, o, keepVersions)
}

func (e profileFile) failed(ctx context.Context, u *cleanroom.Upload, o versions.Owner) error {
	return nil
}

// liveUsers returns the users of a publisher version as its stats recorded them, 0 for none.
func liveUsers(v *cleanroom.Version) int64 {
	if v == nil {
		return 0
	}
	var st struct {
		Users int64 `json:"users"`
	}
	json.Unmarshal(v.Stats, &st)
	return st.Users
}

// publisherDraft is a publisher version to commit.
func publisherDraft(v *vault.PublisherVersion, rep any, uploadID string) *draft {
	stats, _ := json.Marshal(map[string]any{"users": v.Live(), "identifiers": v.Rows(), "cohorts": len(v.Cohorts)})
	return &draft{write: v.Write, rec: versions.Record{Rows: int64(v.Rows()), Stats: stats, UploadID: uploadID}, report: rep}
}

// bridgeFile is a bridge provider's mapping: a new version of the bridge, in its publisher's vault.
type bridgeFile struct{ s *Service }

type bridgeState struct {
	v   *vault.BridgeVersion
	rep *bridge.Report
}

func (e bridgeFile) owner(ctx context.Context, u *cleanroom.Upload) (versions.Owner, error) {
	b, err := e.s.Bridge(ctx, u.TargetID)
	if err == nil && b.PublisherID != u.OrgID {
		err = cleanroom.Errorf(cleanroom.EINVALID, "The upload does not belong to the bridge's publisher.")
	}
	if cleanroom.ErrorCode(err) == cleanroom.ENOTFOUND {
		err = cleanroom.Errorf(cleanroom.EINVALID, "The bridge is no longer registered.")
	}
	if err != nil {
		return versions.Owner{}, err
	}
	return versions.BridgeOwner(b), nil
}

func (e bridgeFile) read(ctx context.Context, u *cleanroom.Upload, in io.Reader, progress func(cleanroom.Progress)) (state, report any, err error) {
	b, err := e.s.Bridge(ctx, u.TargetID)
	if err != nil {
		return nil, nil, err
	}
	reg, err := registry(b)
	if err != nil {
		return nil, nil, err
	}
	fp, _ := e.s.keys()
	v, rep, err := bridge.Parse(ctx, in, bridge.Options{Registry: reg, FingerprintKey: fp, MaxErrorRate: u.MaxErrorRate, Limits: e.s.FileLimits})
	if err != nil {
		return nil, reportOf(rep), err
	}
	return bridgeState{v, rep}, rep, nil
}

func (e bridgeFile) build(ctx context.Context, u *cleanroom.Upload, state any, base *cleanroom.Version) (*draft, error) {
	st := state.(bridgeState)
	stats, _ := json.Marshal(map[string]any{"pairs": st.rep.Pairs, "links": st.v.Rows()})
	return &draft{write: st.v.Write, rec: versions.Record{Rows: int64(st.v.Rows()), Stats: stats, UploadID: u.ID}, report: st.rep}, nil
}

func (e bridgeFile) done(ctx context.Context, u *cleanroom.Upload, o versions.Owner, ver *cleanroom.Version) error {
	return e.s.Versions.Prune(ctx, o, keepVersions)
}

func (e bridgeFile) failed(ctx context.Context, u *cleanroom.Upload, o versions.Owner) error {
	return nil
}

// eventBatch is a batch of identify and membership events, applied to the current audience.
type eventBatch struct{ s *Service }

func (e eventBatch) owner(ctx context.Context, u *cleanroom.Upload) (versions.Owner, error) {
	return versions.PublisherOwner(u.TargetID), nil
}

func (e eventBatch) read(ctx context.Context, u *cleanroom.Upload, in io.Reader, progress func(cleanroom.Progress)) (state, report any, err error) {
	var batch pubsync.Batch
	if err := decodeBatch(in, &batch); err != nil {
		return nil, nil, err
	}
	return batch, nil, nil
}

func (e eventBatch) build(ctx context.Context, u *cleanroom.Upload, state any, base *cleanroom.Version) (*draft, error) {
	batch := state.(pubsync.Batch)
	if base == nil {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "The publisher has no audience yet.").
			Hint("Upload a bulk profile file first (POST /v1/publisher/uploads); events update it.")
	}
	cur, err := e.s.Versions.OpenPublisher(ctx, base)
	if err != nil {
		return nil, err
	}
	v, rep, err := pubsync.Apply(cur, batch, e.s.PublisherOptions())
	if err != nil {
		return nil, invalid(err)
	}
	return publisherDraft(v, rep, u.ID), nil
}

func (e eventBatch) done(ctx context.Context, u *cleanroom.Upload, o versions.Owner, ver *cleanroom.Version) error {
	return e.s.Versions.Prune(ctx, o, keepVersions)
}

func (e eventBatch) failed(ctx context.Context, u *cleanroom.Upload, o versions.Owner) error {
	return nil
}

// erasure removes users from the audience: a new version without them, and every older version
// deleted, so that no stored file holds them any more.
type erasure struct{ s *Service }

// ErasureReport is what an erasure did.
type ErasureReport struct {
	Requested int `json:"requested"`
	Erased    int `json:"erased"`
}

func (e erasure) owner(ctx context.Context, u *cleanroom.Upload) (versions.Owner, error) {
	return versions.PublisherOwner(u.TargetID), nil
}

func (e erasure) read(ctx context.Context, u *cleanroom.Upload, in io.Reader, progress func(cleanroom.Progress)) (state, report any, err error) {
	var req ErasureRequest
	if err := decodeBatch(in, &req); err != nil {
		return nil, nil, err
	}
	return req, ErasureReport{Requested: len(req.UserIDs)}, nil
}

func (e erasure) build(ctx context.Context, u *cleanroom.Upload, state any, base *cleanroom.Version) (*draft, error) {
	req := state.(ErasureRequest)
	if base == nil {
		return nil, nil // no audience: nobody to erase
	}
	cur, err := e.s.Versions.OpenPublisher(ctx, base)
	if err != nil {
		return nil, err
	}
	v, n, err := pubsync.Erase(cur, req.UserIDs, e.s.PublisherOptions())
	if err != nil {
		return nil, invalid(err)
	}
	if n == 0 {
		return nil, nil // none of them is in the current version: only older ones may hold them
	}
	return publisherDraft(v, ErasureReport{Requested: len(req.UserIDs), Erased: n}, u.ID), nil
}

// done deletes every version older than the current one: the one just made, or, when nobody was
// in the current version, the older ones that may still hold the users.
func (e erasure) done(ctx context.Context, u *cleanroom.Upload, o versions.Owner, ver *cleanroom.Version) error {
	cur, _, err := e.s.Versions.Base(ctx, o)
	if err != nil || cur == nil {
		return err
	}
	return e.s.Versions.PruneOlder(ctx, o, cur)
}

func (e erasure) failed(ctx context.Context, u *cleanroom.Upload, o versions.Owner) error {
	return nil
}

// decodeBatch reads a stored batch.
func decodeBatch(in io.Reader, v any) error {
	b, err := io.ReadAll(in)
	if err != nil {
		return err
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return cleanroom.Errorf(cleanroom.EINVALID, "The stored batch is not valid JSON.").Wrap(err)
	}
	return nil
}

// invalid classifies an engine's error as the input's fault (the engines refuse bad input and
// bad options only).
func invalid(err error) error {
	if cleanroom.ErrorCode(err) != cleanroom.EINTERNAL {
		return err
	}
	return cleanroom.Errorf(cleanroom.EINVALID, "The batch could not be applied.").Wrap(err)
}

// reportOf returns an engine's report for the upload, nil (not a typed nil) when there is none.
func reportOf[T any](rep *T) any {
	if rep == nil {
		return nil
	}
	return rep
}

// PublisherOptions are the sync options for this deployment.
func (s *Service) PublisherOptions() pubsync.Options {
	fp, user := s.keys()
	return pubsync.Options{FingerprintKey: fp, UserKey: user, MaxTypes: s.MaxIdentifierTypes, Limits: s.FileLimits}
}
