package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/accounts"
	"github.com/cleanroom-oss/cleanroom/activation"
	"github.com/cleanroom-oss/cleanroom/imports"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/uploads"
	"github.com/cleanroom-oss/cleanroom/versions"
)

// RotateReport counts what a rotation of the master key did.
type RotateReport struct {
	// Rewrapped counts the keys re-wrapped by this run, by kind ("manifest" for the snapshot keys
	// in the edge's manifests); Current the keys that were already the next key's (a run after
	// one that stopped half-way).
	Rewrapped, Current map[string]int
	// Done reports that every key is now wrapped by the next key.
	Done bool
}

// keyLabel is the wrapping label of each kind of key the metadata store keeps.
func keyLabel(k cleanroom.WrappedKey) (string, error) {
	switch k.Kind {
	case cleanroom.KeyVault:
		return accounts.VaultKeyLabel(k.Ref), nil
	case cleanroom.KeyUpload:
		return uploads.KeyLabel(k.Ref), nil
	case cleanroom.KeyVersion:
		return versions.VersionKeyLabel(k.Ref), nil
	case cleanroom.KeyCohortTarget:
		return versions.FileKeyLabel(versions.Cohort, k.Ref), nil
	case cleanroom.KeyImportSecret:
		return imports.SecretLabel(k.Ref), nil
	}
	return "", fmt.Errorf("rotate: no label for keys of kind %q", k.Kind)
}

// RotateMasterKey re-wraps every data key under next, the master key that replaces m.Keys: the
// keys the metadata store keeps (vaults, uploads, versions, cohorts' member files, bucket imports' secrets) and the
// snapshot keys in the edge's manifests. Bulk files are not rewritten: their data keys stay,
// only their wrapping changes. next inherits the root of purpose keys (keyring), so fingerprints,
// user keys and privacy seeds do not change.
//
// It is safe to stop at any point and run again: the root record first gains next's entry (both
// keys open the deployment meanwhile), each key is replaced by a compare-and-swap on its row (or
// its manifest), and a key that already opens with next is left alone. limit > 0 stops after that
// many re-wraps (Done is false then); 0 does all. FinishRotation then drops the old key.
//
// Run it with the deployment stopped: a process still running with the old key cannot open
// what was re-wrapped.
func (m *Main) RotateMasterKey(ctx context.Context, next *keyring.Master, limit int) (RotateReport, error) {
	old := m.Keys
	rep := RotateReport{Rewrapped: map[string]int{}, Current: map[string]int{}}
	next.InheritRoot(old)
	rec, err := readRootRecord(ctx, m.Blobs)
	if err != nil {
		return rep, err
	}
	if rec == nil {
		rec = &keyring.RootRecord{}
	}
	if err := old.AddTo(rec); err != nil {
		return rep, err
	}
	if err := next.AddTo(rec); err != nil {
		return rep, err
	}
	if err := writeRootRecord(ctx, m.Blobs, rec); err != nil {
		return rep, err
	}
	done := 0
	full := func() bool { return limit > 0 && done >= limit }
	// rewrap returns the key wrapped under next, or nil when it is already next's.
	rewrap := func(wrapped []byte, label, what string) ([]byte, error) {
		if _, err := next.Unwrap(wrapped, label); err == nil {
			return nil, nil
		}
		k, err := old.Unwrap(wrapped, label)
		if err != nil {
			return nil, fmt.Errorf("rotate: %s opens with neither the current nor the next master key", what)
		}
		return next.Wrap(k, label)
	}
	for _, kind := range m.Store.WrappedKeyKinds() {
		after := ""
		for !full() {
			keys, err := m.Store.ListWrappedKeys(ctx, kind, after, 500)
			if err != nil {
				return rep, err
			}
			if len(keys) == 0 {
				break
			}
			for _, k := range keys {
				after = k.Ref
				if full() {
					break
				}
				label, err := keyLabel(k)
				if err != nil {
					return rep, err
				}
				w, err := rewrap(k.Wrapped, label, fmt.Sprintf("the %s key %s", kind, k.Ref))
				if err != nil {
					return rep, err
				}
				if w == nil {
					rep.Current[kind]++
					continue
				}
				ok, err := m.Store.ReplaceWrappedKey(ctx, k, w)
				if err != nil {
					return rep, err
				}
				if !ok {
					return rep, fmt.Errorf("rotate: the %s key %s changed meanwhile; stop the deployment and run again", kind, k.Ref)
				}
				rep.Rewrapped[kind]++
				done++
			}
		}
	}
	manifests, err := manifestKeys(ctx, m.Blobs)
	if err != nil {
		return rep, err
	}
	for _, key := range manifests {
		if full() {
			break
		}
		changed, err := rewrapManifest(ctx, m.Blobs, key, rewrap)
		if err != nil {
			return rep, err
		}
		if changed {
			rep.Rewrapped["manifest"]++
			done++
		} else {
			rep.Current["manifest"]++
		}
	}
	rep.Done = !full()
	return rep, nil
}

// readManifestKey reads the manifest at key as raw fields (fields this version does not know
// included) and its snapshot key and wrapped data key ("" and nil when it serves nothing).
func readManifestKey(ctx context.Context, blobs cleanroom.BlobStore, key string) (raw map[string]json.RawMessage, snapshot string, wrapped []byte, err error) {
	r, err := blobs.Open(ctx, key)
	if err != nil {
		return nil, "", nil, err
	}
	err = json.NewDecoder(r).Decode(&raw)
	r.Close()
	if err == nil && raw["snapshot_key"] != nil {
		err = json.Unmarshal(raw["snapshot_key"], &snapshot)
	}
	if err == nil && raw["wrapped_key"] != nil {
		err = json.Unmarshal(raw["wrapped_key"], &wrapped)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("rotate: %s: %w", key, err)
	}
	return raw, snapshot, wrapped, nil
}

// manifestKeys returns the blob keys of the edge's manifests.
func manifestKeys(ctx context.Context, blobs cleanroom.BlobStore) ([]string, error) {
	all, err := blobs.List(ctx, activation.ManifestPrefix)
	var keys []string
	for _, k := range all {
		if strings.HasSuffix(k, "/manifest.json") {
			keys = append(keys, k)
		}
	}
	return keys, err
}

// rewrapManifest re-wraps the snapshot key of the manifest at key, keeping every other field.
func rewrapManifest(ctx context.Context, blobs cleanroom.BlobStore, key string, rewrap func(w []byte, label, what string) ([]byte, error)) (bool, error) {
	raw, snapshot, wrapped, err := readManifestKey(ctx, blobs, key)
	if err != nil || snapshot == "" || len(wrapped) == 0 {
		return false, err
	}
	w, err := rewrap(wrapped, versions.FileKeyLabel(versions.Snapshot, snapshot), "the snapshot key of "+key)
	if err != nil || w == nil {
		return false, err
	}
	if raw["wrapped_key"], err = json.Marshal(w); err != nil {
		return false, err
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return false, err
	}
	_, err = blobs.Put(ctx, key, bytes.NewReader(b))
	return err == nil, err
}

// FinishRotation ends a rotation: the root record keeps the root under keep only, so no other
// master key opens the deployment any more. It refuses while a key does not open with keep.
func (m *Main) FinishRotation(ctx context.Context, keep *keyring.Master) error {
	for _, kind := range m.Store.WrappedKeyKinds() {
		after := ""
		for {
			keys, err := m.Store.ListWrappedKeys(ctx, kind, after, 500)
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				break
			}
			for _, k := range keys {
				after = k.Ref
				label, err := keyLabel(k)
				if err != nil {
					return err
				}
				if _, err := keep.Unwrap(k.Wrapped, label); err != nil {
					return fmt.Errorf("rotate: the %s key %s does not open with the new master key yet; run the rotation again", kind, k.Ref)
				}
			}
		}
	}
	manifests, err := manifestKeys(ctx, m.Blobs)
	if err != nil {
		return err
	}
	for _, key := range manifests {
		_, snapshot, wrapped, err := readManifestKey(ctx, m.Blobs, key)
		if err != nil {
			return err
		}
		if snapshot == "" || len(wrapped) == 0 {
			continue
		}
		if _, err := keep.Unwrap(wrapped, versions.FileKeyLabel(versions.Snapshot, snapshot)); err != nil {
			return fmt.Errorf("rotate: the snapshot key of %s does not open with the new master key yet; run the rotation again", key)
		}
	}
	rec := &keyring.RootRecord{}
	if err := keep.AddTo(rec); err != nil {
		return err
	}
	return writeRootRecord(ctx, m.Blobs, rec)
}

// RotationPending reports whether the root record holds a root for another key than keys: a
// rotation was begun and not finished.
func (m *Main) RotationPending(ctx context.Context) (bool, error) {
	rec, err := readRootRecord(ctx, m.Blobs)
	if err != nil || rec == nil {
		return false, err
	}
	for id := range rec.Wrapped {
		if id != m.Keys.ID() {
			return true, nil
		}
	}
	return false, nil
}
