package cleanroom_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// TestErrorText: users get a classified error's message and hint, and nothing of an
// unclassified error's text.
func TestErrorText(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{cleanroom.Errorf(cleanroom.EINVALID, "The file is empty."), "The file is empty."},
		{cleanroom.Errorf(cleanroom.EINVALID, "The file is empty.").Hint("Upload %d rows.", 2), "The file is empty. Upload 2 rows."},
		{fmt.Errorf("ingest: %w", cleanroom.Errorf(cleanroom.ECONFLICT, "Busy.").Wrap(errors.New("vaults/x"))), "Busy."},
		{errors.New("open vaults/x: no such file"), "An internal error occurred; it has been logged."},
		{nil, ""},
	} {
		if got := cleanroom.ErrorText(c.err); got != c.want {
			t.Errorf("ErrorText(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
