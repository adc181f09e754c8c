package pubsync

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// FuzzSync feeds arbitrary small files to Sync: it must not panic or hang, and whatever it
// accepts must be a valid version consistent with its report.
func FuzzSync(f *testing.F) {
	for _, seed := range []string{
		applyBase,
		"user_id\tcountry\tidentifiers\tcohorts\nu1\tus\tmaid=" + maid1 + ",maid=" + maid1 + "\tc1,c1,c9\nu1\t\t\t\n",
		"user_id,identifiers,cohorts\n\"u1\",\"ip_address=1.2.3.4,appnexus=9\",\"c2,c3\"\n\"u2,\"x\n",
		"\ufeffuser_id\r\n\r\nu1\r\nu2\r\n",
		"user_id\tidentifiers\nu1\temail_sha256=" + strings.ToUpper(hash1) + "\n" + strings.Repeat("x", 3000) + "\n",
		"\x1f\x8b\x08\x00",
		"",
	} {
		f.Add([]byte(seed))
	}
	tax := testTaxonomy(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := testOptions()
		opt.MaxLineBytes, opt.blockSize, opt.Workers = 256, 512, 2
		v, rep, err := Sync(context.Background(), bytes.NewReader(data), tax, opt)
		if err != nil {
			if v != nil {
				t.Fatal("a version with an error")
			}
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("invalid version: %v", err)
		}
		if int64(v.Users) != rep.Users || rep.Users+rep.RejectedRows != rep.Rows || len(rep.Errors) > maxListedErrors {
			t.Fatalf("report inconsistent with the version: users %d, %+v", v.Users, rep)
		}
		var rows int64
		for _, n := range rep.Identifiers {
			rows += n
		}
		if rows != int64(v.Rows()) {
			t.Fatalf("report counts %d identity rows, the version has %d", rows, v.Rows())
		}
		for i := 1; i < len(rep.Errors); i++ {
			if rep.Errors[i-1].Line > rep.Errors[i].Line {
				t.Fatalf("errors out of line order: %+v", rep.Errors)
			}
		}
	})
}
