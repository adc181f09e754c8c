package sqlstore

import (
	"context"
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
)

// wrappedKeyColumns says where each kind of wrapped key lives: its table and the column that
// identifies it (unique) and the column of the wrapped key. A table that gains wrapped keys gets
// an entry here and a label in the rotation (app).
var wrappedKeyColumns = map[string]struct{ table, ref, key string }{
	cleanroom.KeyVault:        {"vaults", "org_id", "wrapped_key"},
	cleanroom.KeyUpload:       {"uploads", "id", "wrapped_key"},
	cleanroom.KeyVersion:      {"versions", "id", "wrapped_key"},
	cleanroom.KeyCohortTarget: {"cohort_targets", "blob_key", "wrapped_key"},
	cleanroom.KeyImportSecret: {"import_sources", "id", "wrapped_secret"},
}

// WrappedKeyKinds implements cleanroom.KeyStore.
func (db *DB) WrappedKeyKinds() []string {
	return []string{cleanroom.KeyVault, cleanroom.KeyUpload, cleanroom.KeyVersion, cleanroom.KeyCohortTarget, cleanroom.KeyImportSecret}
}

// ListWrappedKeys implements cleanroom.KeyStore; rows without a key (empty) are left out.
func (db *DB) ListWrappedKeys(ctx context.Context, kind, after string, limit int) ([]cleanroom.WrappedKey, error) {
	c, ok := wrappedKeyColumns[kind]
	if !ok {
		return nil, fmt.Errorf("sqlstore: no wrapped keys of kind %q", kind)
	}
	rows, err := db.read.QueryContext(ctx, db.q(`SELECT `+c.ref+`, `+c.key+` FROM `+c.table+
		` WHERE `+c.ref+` > ? AND length(`+c.key+`) > 0 ORDER BY `+c.ref+` LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list %s keys: %w", kind, err)
	}
	defer rows.Close()
	var out []cleanroom.WrappedKey
	for rows.Next() {
		k := cleanroom.WrappedKey{Kind: kind}
		if err := rows.Scan(&k.Ref, &k.Wrapped); err != nil {
			return nil, fmt.Errorf("sqlstore: list %s keys: %w", kind, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list %s keys: %w", kind, err)
	}
	return out, nil
}

// ReplaceWrappedKey implements cleanroom.KeyStore.
func (db *DB) ReplaceWrappedKey(ctx context.Context, k cleanroom.WrappedKey, wrapped []byte) (bool, error) {
	c, ok := wrappedKeyColumns[k.Kind]
	if !ok {
		return false, fmt.Errorf("sqlstore: no wrapped keys of kind %q", k.Kind)
	}
	res, err := db.write.ExecContext(ctx, db.q(`UPDATE `+c.table+` SET `+c.key+` = ? WHERE `+c.ref+` = ? AND `+c.key+` = ?`),
		wrapped, k.Ref, k.Wrapped)
	if err != nil {
		return false, fmt.Errorf("sqlstore: replace %s key: %w", k.Kind, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
