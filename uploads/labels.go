package uploads

// KeyLabel is the label an upload's key is wrapped under (for a rotation of the master key,
// which re-wraps it).
func KeyLabel(uploadID string) string { return keyLabel(uploadID) }
