package versions

// VersionKeyLabel is the label a version's data key is wrapped under (for a rotation of the
// master key, which re-wraps it).
func VersionKeyLabel(versionID string) string { return versionLabel(versionID) }

// FileKeyLabel is the label the data key of a file kept by its owner's record (PutFile) is
// wrapped under.
func FileKeyLabel(k Kind, key string) string { return fileLabel(k, key) }
