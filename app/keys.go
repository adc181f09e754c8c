package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/keyring"
)

// RootRecordKey is the blob key of the root record (keyring.RootRecord): the root of purpose
// keys wrapped under the master key, written by the first rotation. Every role reads it (the
// edge included), which is why it lives in the blob store rather than the database.
const RootRecordKey = "keyring/root.json"

// loadKeys returns the master key the configuration names: CLEANROOM_MASTER_KEY, else
// --master-key-file (which must exist: a secrets mount is never written), else the data
// directory's master.key, generated when create is set and there is none (created reports it).
func loadKeys(c *Config, create bool) (k *keyring.Master, created bool, err error) {
	switch {
	case c.MasterKey != "":
		k, _, err = keyring.LoadOrCreate("", c.MasterKey)
		return k, false, err
	case c.MasterKeyFile != "":
		if k, err = keyring.Load(c.MasterKeyFile); err != nil {
			return nil, false, fmt.Errorf("--master-key-file: %w", err)
		}
		return k, false, nil
	case create:
		return keyring.LoadOrCreate(c.KeyPath(), "")
	}
	if k, err = keyring.Load(c.KeyPath()); err != nil {
		return nil, false, fmt.Errorf("no master key (CLEANROOM_MASTER_KEY, --master-key-file, or the master.key of a data directory that `cleanroom serve` created): %w", err)
	}
	return k, false, nil
}

// readRootRecord returns the root record, or nil when the deployment has none (never rotated).
func readRootRecord(ctx context.Context, blobs cleanroom.BlobStore) (*keyring.RootRecord, error) {
	r, err := blobs.Open(ctx, RootRecordKey)
	if errors.Is(err, cleanroom.ErrBlobNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("root record: %w", err)
	}
	defer r.Close()
	var rec keyring.RootRecord
	if err := json.NewDecoder(r).Decode(&rec); err != nil {
		return nil, fmt.Errorf("root record %s: %w", RootRecordKey, err)
	}
	return &rec, nil
}

func writeRootRecord(ctx context.Context, blobs cleanroom.BlobStore, rec *keyring.RootRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = blobs.Put(ctx, RootRecordKey, bytes.NewReader(b))
	return err
}

// openRoot gives keys the deployment's root of purpose keys from the root record, if there is
// one; a master key the record does not know is refused.
func openRoot(ctx context.Context, blobs cleanroom.BlobStore, keys *keyring.Master) error {
	rec, err := readRootRecord(ctx, blobs)
	if err != nil || rec == nil {
		return err
	}
	if err := keys.OpenRoot(rec); err != nil {
		if errors.Is(err, keyring.ErrNotInRecord) {
			return fmt.Errorf("the master key (ID %s) is not this deployment's: the blob store's %s names another; after `cleanroom admin rotate-master-key`, start with the new key", keys.ID(), RootRecordKey)
		}
		return err
	}
	return nil
}

// checkRoot records the ID of the purpose keys' root in the metadata store on a deployment's first
// start and refuses to run on a later start with another root: a root record (keyring/root.json)
// deleted or replaced in the blob store would otherwise silently change every fingerprint, user
// key and privacy seed derived from it.
func checkRoot(ctx context.Context, store cleanroom.FactStore, keys *keyring.Master) error {
	stored, err := store.RecordFact(ctx, cleanroom.FactRootID, keys.RootID())
	if err != nil {
		return err
	}
	if stored != keys.RootID() {
		return fmt.Errorf("the master key (ID %s) derives its purpose keys from root %s, but this database was set up with root %s: "+
			"the blob store's %s is missing or belongs to another deployment (after `cleanroom admin rotate-master-key` it holds the root); "+
			"restore it from the backup of the blob store, or start with the master key this database was set up with", keys.ID(), keys.RootID(), stored, RootRecordKey)
	}
	return nil
}
