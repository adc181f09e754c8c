package cleanroom

import "context"

// FactRootID names the recorded ID of the root the deployment's purpose keys derive from.
const FactRootID = "keyring.root_id"

// FactStore keeps facts a deployment records once and checks at every start.
type FactStore interface {
	// RecordFact stores value under name unless a value is there already, and returns the value
	// stored (value, or the earlier one). Of several processes recording at once, one wins and all
	// get its value.
	RecordFact(ctx context.Context, name, value string) (string, error)
}
