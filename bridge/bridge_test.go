package bridge_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/bridge"
	"github.com/cleanroom-oss/cleanroom/identity"
)

var testKey = bytes.Repeat([]byte{7}, identity.FingerprintKeySize)

const (
	email1 = "b4c9a289323b21a01c3e940f150eb9b8c542587f1abfd8f0e1cc1ffc5e475514"
	email2 = "2d5e0c1a7b1f4f61a5a0a0d2c3c3c8f0b6f1a9d2e4c5b6a7980f1e2d3c4b5a69"
	maid1  = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
	maid2  = "0f8b3c3e-1a2b-4c5d-8e9f-0a1b2c3d4e5f"
)

func gz(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

func rows(n int, row string) string { return strings.Repeat(row, n) }

func TestParse(t *testing.T) {
	reg, err := identity.NewRegistry("acme_id")
	if err != nil {
		t.Fatal(err)
	}
	good := "email_sha256\t" + email1 + "\tmaid\t" + maid1 + "\n"
	tests := []struct {
		name         string
		in           string
		registry     *identity.Registry
		wantErr      bool
		wantAccepted int64
		wantRejected map[string]int64
		wantPairs    map[string]int64
		wantDups     int64
		wantGzip     bool
	}{
		{name: "one link", in: good, wantAccepted: 1, wantPairs: map[string]int64{"email_sha256->maid": 1}},
		{name: "aliases, case, CRLF and blank lines", in: "SHA256_EMAIL\t" + strings.ToUpper(email1) + "\tIDFA\t" + strings.ToUpper(maid1) + "\r\n\n  \n",
			wantAccepted: 1, wantPairs: map[string]int64{"email_sha256->maid": 1}},
		{name: "duplicates merged", in: good + good + "email_sha256\t" + email1 + "\tmaid\t" + maid2 + "\n",
			wantAccepted: 3, wantDups: 1, wantPairs: map[string]int64{"email_sha256->maid": 2}},
		{name: "two pairs", in: good + "maid\t" + maid2 + "\tappnexus\t0042\n",
			wantAccepted: 2, wantPairs: map[string]int64{"email_sha256->maid": 1, "maid->appnexus": 1}},
		{name: "gzip", in: gz(good), wantGzip: true, wantAccepted: 1, wantPairs: map[string]int64{"email_sha256->maid": 1}},
		{name: "custom tag", in: "acme_id\tA-123\tmaid\t" + maid1 + "\n", registry: reg,
			wantAccepted: 1, wantPairs: map[string]int64{"acme_id->maid": 1}},
		{name: "custom tag unknown without registry", in: "acme_id\tA-123\tmaid\t" + maid1 + "\n", wantErr: true,
			wantRejected: map[string]int64{"unknown_tag": 1}},
		{name: "one bad row in 20 is tolerated", in: rows(19, good) + "email_sha256\tnot-a-hash\tmaid\t" + maid1 + "\n",
			wantAccepted: 19, wantDups: 18, wantRejected: map[string]int64{"not_hex": 1}, wantPairs: map[string]int64{"email_sha256->maid": 1}},
		{name: "one bad row in 19 is too many", in: rows(18, good) + "email_sha256\t" + email1 + "\tmaid\n", wantErr: true,
			wantRejected: map[string]int64{"wrong_column_count": 1}},
		{name: "same tag", in: rows(2, "maid\t"+maid1+"\tgaid\t"+maid2+"\n"), wantErr: true, wantRejected: map[string]int64{"same_tag": 2}},
		{name: "bad to value", in: "email_sha256\t" + email1 + "\tmaid\t00000000-0000-0000-0000-000000000000\n", wantErr: true,
			wantRejected: map[string]int64{"zero_maid": 1}},
		{name: "bad to tag", in: "email_sha256\t" + email1 + "\tfoo\t" + maid1 + "\n", wantErr: true,
			wantRejected: map[string]int64{"unknown_tag": 1}},
		{name: "empty file", in: "", wantErr: true},
		{name: "damaged gzip", in: gz(good)[:20], wantErr: true, wantGzip: true},
		{name: "line too long", in: "email_sha256\t" + strings.Repeat("a", 70000) + "\tmaid\tx\n", wantErr: true,
			wantRejected: map[string]int64{"line_too_long": 1}},
		{name: "not UTF-8", in: rows(19, good) + "email_sha256\t\xff\tmaid\t" + maid1 + "\n",
			wantAccepted: 19, wantDups: 18, wantRejected: map[string]int64{"bad_utf8": 1}, wantPairs: map[string]int64{"email_sha256->maid": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, rep, err := bridge.Parse(context.Background(), strings.NewReader(tt.in), bridge.Options{Registry: tt.registry, FingerprintKey: testKey})
			if tt.wantErr {
				if err == nil || cleanroom.ErrorCode(err) != cleanroom.EINVALID {
					t.Fatalf("err = %v, want EINVALID", err)
				}
				if v != nil {
					t.Error("a version with an error")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if rep.Gzip != tt.wantGzip {
				t.Errorf("gzip %v, want %v", rep.Gzip, tt.wantGzip)
			}
			if tt.wantRejected == nil {
				tt.wantRejected = map[string]int64{}
			}
			if tt.wantPairs == nil {
				tt.wantPairs = map[string]int64{}
			}
			if !cmp.Equal(rep.Rejected, tt.wantRejected) {
				t.Errorf("rejected %v, want %v", rep.Rejected, tt.wantRejected)
			}
			if tt.wantErr {
				return
			}
			if rep.RowsAccepted != tt.wantAccepted || rep.Duplicates != tt.wantDups || !cmp.Equal(rep.Pairs, tt.wantPairs) {
				t.Errorf("accepted %d dups %d pairs %v, want %d %d %v", rep.RowsAccepted, rep.Duplicates, rep.Pairs, tt.wantAccepted, tt.wantDups, tt.wantPairs)
			}
			if rep.RowsRead != rep.RowsAccepted+rep.RowsRejected {
				t.Errorf("read %d != accepted %d + rejected %d", rep.RowsRead, rep.RowsAccepted, rep.RowsRejected)
			}
			if err := v.Validate(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestParseLinks: the version maps the fingerprint of each source to those of its targets.
func TestParseLinks(t *testing.T) {
	in := "email_sha256\t" + email1 + "\tmaid\t" + maid1 + "\n" +
		"email_sha256\t" + email1 + "\tmaid\t" + strings.ToUpper(maid2) + "\n" +
		"email_sha256\t" + email2 + "\tmaid\t" + maid2 + "\n"
	v, _, err := bridge.Parse(context.Background(), strings.NewReader(in), bridge.Options{FingerprintKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := identity.NewFingerprinter(testKey)
	e1, e2 := fp.Fingerprint(identity.TagEmailSHA256, email1), fp.Fingerprint(identity.TagEmailSHA256, email2)
	m1, m2 := fp.Fingerprint(identity.TagMAID, maid1), fp.Fingerprint(identity.TagMAID, maid2)
	for _, tt := range []struct {
		name string
		from identity.Fingerprint
		want []identity.Fingerprint
	}{
		{"email 1", e1, sortFP(m1, m2)},
		{"email 2", e2, []identity.Fingerprint{m2}},
		{"a target is no source", m1, nil},
	} {
		if got := v.Lookup(identity.TagEmailSHA256, identity.TagMAID, tt.from); !cmp.Equal(got, tt.want) {
			t.Errorf("%s: Lookup = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func sortFP(a, b identity.Fingerprint) []identity.Fingerprint {
	if b.Less(a) {
		a, b = b, a
	}
	return []identity.Fingerprint{a, b}
}

// TestParseReport: errors carry line numbers and reasons and never a value; at most 100 are
// kept.
func TestParseReport(t *testing.T) {
	var b strings.Builder
	b.WriteString("email_sha256\t" + email1 + "\tmaid\t" + maid1 + "\n")
	for i := range 150 {
		fmt.Fprintf(&b, "email_sha256\tsecret%d@example.com\tmaid\t%s\n", i, maid1)
	}
	_, rep, err := bridge.Parse(context.Background(), strings.NewReader(b.String()), bridge.Options{FingerprintKey: testKey})
	if cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
	if len(rep.FirstErrors) != 100 || rep.RowsRejected != 150 || rep.Rejected["raw_email"] != 150 {
		t.Fatalf("errors %d rejected %d %v", len(rep.FirstErrors), rep.RowsRejected, rep.Rejected)
	}
	if rep.FirstErrors[0].Line != 2 || rep.FirstErrors[99].Line != 101 {
		t.Errorf("lines %d..%d, want 2..101", rep.FirstErrors[0].Line, rep.FirstErrors[99].Line)
	}
	j, _ := json.Marshal(rep)
	if msg := cleanroom.ErrorMessage(err); bytes.Contains(j, []byte("secret")) || strings.Contains(msg, "secret") || bytes.Contains(j, []byte(maid1)) {
		t.Errorf("a value leaked into the report or error: %s %s", j, msg)
	}
}

func TestParseBadKey(t *testing.T) {
	if _, _, err := bridge.Parse(context.Background(), strings.NewReader(""), bridge.Options{}); err == nil {
		t.Error("parsed without a fingerprint key")
	}
}
