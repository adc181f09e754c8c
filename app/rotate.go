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
	// in the edge's manifests, "replica" and "active" for the keys of the edge replicas' files);
	// Current the keys that were already the next key's (a run after one that stopped half-way).
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
// data keys in the blob store's records (pointerKinds: the snapshot keys in the edge's manifests,
// the edge replicas' delivery records and active users). Bulk files are not rewritten: their data keys stay,
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
	pointers, err := pointerKeys(ctx, m.Blobs)
	if err != nil {
		return rep, err
	}
	for _, pk := range pointers {
		if full() {
			break
		}
		changed, err := rewrapPointer(ctx, m.Blobs, pk, rewrap)
		if err != nil {
			return rep, err
		}
		if changed {
			rep.Rewrapped[pk.kind.name]++
			done++
		} else {
			rep.Current[pk.kind.name]++
		}
	}
	rep.Done = !full()
	return rep, nil
}

// pointerKind is a kind of JSON record of the blob store that names a sealed file and holds its
// data key wrapped under the master key: the edge's manifests (their snapshot), the pointers edge
// replicas store (their delivery records and active users) and the active users an edge of an
// earlier release stored. A kind of record that gains a wrapped key is one entry here.
type pointerKind struct {
	// name counts the kind in RotateReport.
	name string
	// match reports whether a blob key's path under activation.ManifestPrefix is of this kind.
	match func(parts []string) bool
	// field is the record's field naming the sealed file; owner the file's owner kind (its
	// wrapping label, versions.FileKeyLabel). The wrapped key is the field "wrapped_key".
	field string
	owner versions.Kind
}

var pointerKinds = []pointerKind{
	{"manifest", func(p []string) bool { return len(p) == 2 && p[1] == "manifest.json" }, "snapshot_key", versions.Snapshot},
	{"replica", func(p []string) bool {
		return len(p) >= 4 && p[1] == "replicas" && strings.HasSuffix(p[len(p)-1], ".json")
	}, "key", versions.Edge},
	{"active", func(p []string) bool { return len(p) == 2 && p[1] == "active.json" }, "set_key", versions.Edge},
}

// pointerKey is a record of the blob store holding a wrapped key, and its kind.
type pointerKey struct {
	key  string
	kind *pointerKind
}

// pointerKeys returns the records of the blob store that hold wrapped keys.
func pointerKeys(ctx context.Context, blobs cleanroom.BlobStore) ([]pointerKey, error) {
	all, err := blobs.List(ctx, activation.ManifestPrefix)
	var out []pointerKey
	for _, k := range all {
		parts := strings.Split(strings.TrimPrefix(k, activation.ManifestPrefix), "/")
		for i := range pointerKinds {
			if pointerKinds[i].match(parts) {
				out = append(out, pointerKey{k, &pointerKinds[i]})
				break
			}
		}
	}
	return out, err
}

// readPointer reads the record pk as raw fields (fields this version does not know included) and
// the file it names and its wrapped data key ("" and nil when it names none).
func readPointer(ctx context.Context, blobs cleanroom.BlobStore, pk pointerKey) (raw map[string]json.RawMessage, file string, wrapped []byte, err error) {
	r, err := blobs.Open(ctx, pk.key)
	if err != nil {
		return nil, "", nil, err
	}
	err = json.NewDecoder(r).Decode(&raw)
	r.Close()
	if err == nil && raw[pk.kind.field] != nil {
		err = json.Unmarshal(raw[pk.kind.field], &file)
	}
	if err == nil && raw["wrapped_key"] != nil {
		err = json.Unmarshal(raw["wrapped_key"], &wrapped)
	}
	if err != nil {
		return nil, "", nil, fmt.Errorf("rotate: %s: %w", pk.key, err)
	}
	return raw, file, wrapped, nil
}

// rewrapPointer re-wraps the data key of the record pk, keeping every other field.
func rewrapPointer(ctx context.Context, blobs cleanroom.BlobStore, pk pointerKey, rewrap func(w []byte, label, what string) ([]byte, error)) (bool, error) {
	raw, file, wrapped, err := readPointer(ctx, blobs, pk)
	if err != nil || file == "" || len(wrapped) == 0 {
		return false, err
	}
	w, err := rewrap(wrapped, versions.FileKeyLabel(pk.kind.owner, file), "the data key in "+pk.key)
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
	_, err = blobs.Put(ctx, pk.key, bytes.NewReader(b))
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
	pointers, err := pointerKeys(ctx, m.Blobs)
	if err != nil {
		return err
	}
	for _, pk := range pointers {
		_, file, wrapped, err := readPointer(ctx, m.Blobs, pk)
		if err != nil {
			return err
		}
		if file == "" || len(wrapped) == 0 {
			continue
		}
		if _, err := keep.Unwrap(wrapped, versions.FileKeyLabel(pk.kind.owner, file)); err != nil {
			return fmt.Errorf("rotate: the data key in %s does not open with the new master key yet; run the rotation again", pk.key)
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
