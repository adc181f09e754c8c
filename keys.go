package cleanroom

import "context"

// Kinds of wrapped keys the metadata store keeps (KeyStore), each with the label its key is
// wrapped under.
const (
	KeyVault        = "vault"         // an org's vault key (vaults.org_id): "vault:<org id>"
	KeyUpload       = "upload"        // an upload's key (uploads.id): "upload:<upload id>"
	KeyVersion      = "version"       // a version's data key (versions.id): "version:<version id>"
	KeyCohortTarget = "cohort_target" // a cohort's member file (cohort_targets.blob_key): "cohort:<blob key>"
	KeyImportSecret = "import_secret" // a bucket import's secret key (import_sources.id): "import-secret:<source id>"
)

// WrappedKey is one data key the metadata store keeps wrapped by the master key.
type WrappedKey struct {
	Kind string
	// Ref identifies the key within its kind and names it in its label: the org, upload or
	// version ID, or the member file's blob key.
	Ref     string
	Wrapped []byte
}

// KeyStore lists and replaces the wrapped keys, for a rotation of the master key.
type KeyStore interface {
	// WrappedKeyKinds returns the kinds of wrapped keys the store holds.
	WrappedKeyKinds() []string
	// ListWrappedKeys returns up to limit keys of kind with Ref after after, in Ref order.
	ListWrappedKeys(ctx context.Context, kind, after string, limit int) ([]WrappedKey, error)
	// ReplaceWrappedKey sets k's wrapped key to wrapped only if it is still k.Wrapped, in one
	// statement, and reports whether it did.
	ReplaceWrappedKey(ctx context.Context, k WrappedKey, wrapped []byte) (bool, error)
}
