package edgehttp

import "testing"

func TestCheckEdgeID(t *testing.T) {
	for id, ok := range map[string]bool{
		"edge-a": true, "web1.example-3f2a9c01": true, "A_b.9": true,
		"": false, ".": false, "..": false, "a/b": false, "a b": false, "é": false,
		"0123456789012345678901234567890123456789012345678901234567890123":  true,
		"01234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if err := CheckEdgeID(id); (err == nil) != ok {
			t.Errorf("CheckEdgeID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}
