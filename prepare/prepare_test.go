package prepare_test

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/prepare"
	"github.com/cleanroom-oss/cleanroom/synth"
)

func sha(t *testing.T, f func(string) (string, error), raw string) string {
	t.Helper()
	d, err := f(raw)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func email(t *testing.T, raw string) string {
	return sha(t, func(s string) (string, error) { return identity.HashEmail(s, false) }, raw)
}

func phone(t *testing.T, raw string) string {
	return sha(t, func(s string) (string, error) { return identity.HashPhone(s, "44") }, raw)
}

type reject struct{ line, column, reason string }

// run prepares input and returns the upload rows, the rejects and the summary.
func run(t *testing.T, input string, opts prepare.Options) ([]string, []reject, *prepare.Summary, error) {
	t.Helper()
	var out, rej bytes.Buffer
	sum, err := prepare.Run(strings.NewReader(input), &out, &rej, opts)
	if err != nil {
		return nil, nil, sum, err
	}
	rows := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if out.Len() == 0 {
		rows = nil
	}
	// Every upload row is in the ingest format and re-normalises to itself.
	for _, r := range rows {
		f := strings.Split(r, "\t")
		if len(f) != 3 {
			t.Fatalf("upload row %q has %d fields", r, len(f))
		}
		tag, err := identity.ParseTag(nil, f[1])
		if err != nil || string(tag) != f[1] {
			t.Fatalf("upload row %q: tag %v", r, err)
		}
		if v, err := identity.Normalize(tag, f[0]); err != nil || v != f[0] {
			t.Fatalf("upload row %q: value normalises to %q, %v", r, v, err)
		}
		for s := range strings.SplitSeq(f[2], ",") {
			if s == "" || len(s) > prepare.MaxSegmentLength || strings.ContainsAny(s, "\t,") {
				t.Fatalf("upload row %q: bad segment %q", r, s)
			}
		}
	}
	records, err := csv.NewReader(&rej).ReadAll()
	if err != nil {
		t.Fatalf("rejects CSV: %v", err)
	}
	if !slices.Equal(records[0], prepare.RejectsHeader) {
		t.Fatalf("rejects header %v", records[0])
	}
	var rejects []reject
	for _, r := range records[1:] {
		if len(r) != 4 || r[3] == "" {
			t.Fatalf("reject %v: want line, column, reason and hint", r)
		}
		rejects = append(rejects, reject{r[0], r[1], r[2]})
	}
	return rows, rejects, sum, nil
}

func TestRun(t *testing.T) {
	const maid = "6d92078a-8246-4ba4-ae5b-76104861e7dc"
	hashed := email(t, "a@example.com")
	tests := []struct {
		name    string
		input   string
		opts    prepare.Options
		rows    func(t *testing.T) []string
		rejects []reject
	}{{
		name:  "messy values",
		input: "email,phone,maid,ip,segments\n  Jane.Doe@Example.COM ,020 7946 0958,6D92078A-8246-4BA4-AE5B-76104861E7DC,::ffff:203.0.113.7,s1;s2\n",
		opts:  prepare.Options{DefaultCountryCode: "44"},
		rows: func(t *testing.T) []string {
			return []string{
				email(t, "jane.doe@example.com") + "\temail_sha256\ts1,s2",
				phone(t, "+442079460958") + "\tphone_sha256\ts1,s2",
				maid + "\tmaid\ts1,s2",
				"203.0.113.7\tip_address\ts1,s2",
			}
		},
	}, {
		name:  "BOM, CRLF, quotes and a multi-line field",
		input: "\xef\xbb\xbfE-Mail,Segments\r\n\"a@example.com\",\"x; y ;x\"\r\n\"b@exa\nmple.com\",x\r\n\r\nc@example.com,x\r\n",
		rows: func(t *testing.T) []string {
			return []string{email(t, "a@example.com") + "\temail_sha256\tx,y", email(t, "c@example.com") + "\temail_sha256\tx"}
		},
		rejects: []reject{{"3", "E-Mail", "control_chars"}},
	}, {
		name:  "semicolons, detected",
		input: "Mobile;Lists\n+1 (415) 555-0100;\"a,b\"\n+1 415 555 0101;c\n",
		opts:  prepare.Options{SegmentsSeparator: ","},
		rows: func(t *testing.T) []string {
			return []string{phone(t, "+14155550100") + "\tphone_sha256\ta,b", phone(t, "+14155550101") + "\tphone_sha256\tc"}
		},
	}, {
		name:  "tabs, named columns",
		input: "id\tkontakt\tzielgruppen\n1\tx@example.de\tk1|k2\n",
		opts:  prepare.Options{EmailColumn: "Kontakt", SegmentsColumn: "ZIELGRUPPEN", SegmentsSeparator: "|"},
		rows:  func(t *testing.T) []string { return []string{email(t, "x@example.de") + "\temail_sha256\tk1,k2"} },
	}, {
		name:  "explicit delimiter",
		input: "email|segments\nx@example.com|s\n",
		opts:  prepare.Options{Delimiter: '|'},
		rows:  func(t *testing.T) []string { return []string{email(t, "x@example.com") + "\temail_sha256\ts"} },
	}, {
		name:  "fixed segments and no segments column",
		input: "email\nx@example.com\n",
		opts:  prepare.Options{Segments: []string{"all", "vip"}},
		rows:  func(t *testing.T) []string { return []string{email(t, "x@example.com") + "\temail_sha256\tall,vip"} },
	}, {
		name:  "gmail folding only when asked",
		input: "email,segments\nJane.Doe+news@gmail.com,s\nJane.Doe+news@example.com,s\n",
		opts:  prepare.Options{FoldGmail: true},
		rows: func(t *testing.T) []string {
			return []string{email(t, "janedoe@gmail.com") + "\temail_sha256\ts", email(t, "jane.doe+news@example.com") + "\temail_sha256\ts"}
		},
	}, {
		name:  "gmail kept without folding",
		input: "email,segments\nJane.Doe+news@gmail.com,s\n",
		rows: func(t *testing.T) []string {
			return []string{email(t, "jane.doe+news@gmail.com") + "\temail_sha256\ts"}
		},
	}, {
		name: "hashed already, and wrong digests",
		input: "email,segments\n" + strings.ToUpper(hashed) + ",s\n" +
			"0cba00ca3da1b283a57287bcceb17e35,s\n" + "3f1d0b6e4c2f7c4f4f1a2d9f5e6a7b8c9d0e1f2a,s\n",
		rows:    func(t *testing.T) []string { return []string{hashed + "\temail_sha256\ts"} },
		rejects: []reject{{"3", "email", "md5"}, {"4", "email", "sha1"}},
	}, {
		name: "row problems",
		input: "email,phone,segments\n" +
			"a@example.com,,\n" + // no segments
			",,s\n" + // no identifier
			"b@example.com,+44 20 7946 0958,s,extra\n" + // field count
			"c@example.com,\"+44 20 7946 0958\",\"s\tt\"\n" + // tab in a segment
			"d@example.com,+44 20 7946 0958,\"" + strings.Repeat("s", 129) + "\"\n" + // long segment
			"e@exa\"mple.com,+44 20 7946 0958,s\n" + // bare quote
			"f@example.com,07,s\n", // bad phone, good email
		rows: func(t *testing.T) []string {
			return []string{email(t, "f@example.com") + "\temail_sha256\ts"}
		},
		rejects: []reject{
			{"2", "segments", "no_segments"}, {"3", "", "no_identifier"}, {"4", "", "field_count"},
			{"5", "segments", "bad_segment"}, {"6", "segments", "bad_segment"}, {"7", "", "bad_csv"},
			{"8", "phone", "bad_phone"},
		},
	}, {
		name:    "values identity rejects",
		input:   "maid,ip,segments\n00000000-0000-0000-0000-000000000000,127.0.0.1,s\nnot-a-maid,10.1.2.3:80,s\n",
		rejects: []reject{{"2", "maid", "zero_maid"}, {"2", "ip", "bad_ip"}, {"3", "maid", "bad_uuid"}, {"3", "ip", "bad_ip"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, rejects, sum, err := run(t, tt.input, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if tt.rows != nil {
				want = tt.rows(t)
			}
			if !slices.Equal(rows, want) {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
			}
			if !slices.Equal(rejects, tt.rejects) {
				t.Errorf("rejects %v, want %v", rejects, tt.rejects)
			}
			var written, rejected int64
			for _, n := range sum.Written {
				written += n
			}
			for _, n := range sum.Rejected {
				rejected += n
			}
			if written != int64(len(rows)) || rejected != int64(len(rejects)) {
				t.Errorf("summary %+v for %d rows, %d rejects", sum, len(rows), len(rejects))
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	tests := []struct {
		name, input string
		opts        prepare.Options
		want        []string // in the message and hint
	}{
		{"empty", "", prepare.Options{}, []string{"empty", "header row"}},
		{"named column missing", "email,segments\n", prepare.Options{EmailColumn: "e-mail"},
			[]string{`column "e-mail" not found; the header has: "email", "segments"`, "--email-col"}},
		{"no identifier column", "name,segments\nx,y\n", prepare.Options{},
			[]string{`no identifier column found; the header has: "name", "segments"`, "--email-col"}},
		{"wrong delimiter", "email|segments\n", prepare.Options{},
			[]string{`"email|segments" (one column: is the delimiter '|'? pass --delimiter)`}},
		{"no segments column", "email\nx@example.com\n", prepare.Options{}, []string{"no segments column", "--segments-col", "--segment"}},
		{"named column twice", "email,Email,segments\n", prepare.Options{EmailColumn: "email"}, []string{"appears twice"}},
		{"calling code", "email,segments\n", prepare.Options{DefaultCountryCode: "+44 20"}, []string{"country calling code", "--default-country-code"}},
		{"bad fixed segment", "email\n", prepare.Options{Segments: []string{"a,b"}}, []string{"--segment", "comma"}},
		{"bad header", "\"email,segments\n", prepare.Options{}, []string{"header row is not valid CSV"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := prepare.Run(strings.NewReader(tt.input), &bytes.Buffer{}, nil, tt.opts)
			if cleanroom.ErrorCode(err) != cleanroom.EINVALID {
				t.Fatalf("error %v, want an invalid error", err)
			}
			text := cleanroom.ErrorMessage(err) + " " + fmt.Sprint(cleanroom.ErrorDetails(err)["hint"])
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("%q does not say %q", text, w)
				}
			}
		})
	}
}

// TestRejectsHoldNoValues feeds distinctive invalid values and checks that none of them reaches
// the rejects file or the summary.
func TestRejectsHoldNoValues(t *testing.T) {
	secrets := []string{
		"zq1-secret@@example.com", "zq2 secret@example.com", "+44 zq3 7946", "0012", "zq4-maid",
		"00000000-0000-0000-0000-000000000000", "zq5.1.2.3", "127.0.0.1", "999.88.77.66",
		"0cba00ca3da1b283a57287bcceb17e35",
	}
	var in strings.Builder
	in.WriteString("email,phone,maid,ip,segments\n")
	for i := 0; i+3 < len(secrets)+4; i += 4 {
		field := func(k int) string {
			if i+k < len(secrets) {
				return `"` + secrets[i+k] + `"`
			}
			return ""
		}
		fmt.Fprintf(&in, "%s,%s,%s,%s,s1\n", field(0), field(1), field(2), field(3))
	}
	in.WriteString("\"zq6-unclosed@example.com,,,,s\n") // bare quote to end of file
	var out, rej bytes.Buffer
	sum, err := prepare.Run(strings.NewReader(in.String()), &out, &rej, prepare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("upload rows from invalid values: %q", out.String())
	}
	shown := rej.String() + fmt.Sprintf("%+v", *sum)
	for _, s := range append(secrets, "zq6") {
		if strings.Contains(shown, s) {
			t.Errorf("%q appears in the rejects or summary:\n%s", s, shown)
		}
	}
	if n := strings.Count(rej.String(), "\n"); n < len(secrets) {
		t.Errorf("%d reject lines for %d bad values:\n%s", n-1, len(secrets), rej.String())
	}
}

func TestGzipInputAndProgress(t *testing.T) {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	fmt.Fprintln(zw, "email,segments")
	for i := range 40_000 {
		fmt.Fprintf(zw, "u%d@example.com,s\n", i)
	}
	zw.Close()
	var calls []int64
	var out bytes.Buffer
	sum, err := prepare.Run(&z, &out, nil, prepare.Options{Progress: func(n int64) { calls = append(calls, n) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != 40_000 || sum.Written[identity.TagEmailSHA256] != 40_000 || !slices.Equal(calls, []int64{16384, 32768, 40000}) {
		t.Errorf("summary %+v, progress %v", sum, calls)
	}
}

// TestSynthRoundTrip prepares synth's raw PII file and checks that every value gives the hash
// synth itself gives (and the publisher holds) for the same person.
func TestSynthRoundTrip(t *testing.T) {
	u, err := synth.NewUniverse(synth.UniverseConfig{Seed: 3, Users: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	a, err := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 4, Rows: 10_000, Overlap: 0.5, Mistakes: 0.03,
		Tags: []identity.Tag{identity.TagEmailSHA256, identity.TagPhoneSHA256, identity.TagMAID, identity.TagIPAddress}})
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	if _, err := a.WritePII(&raw, synth.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	rows, rejects, sum, err := run(t, raw.String(), prepare.Options{DefaultCountryCode: "44"})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	invalid := 0
	checkedPublisher := 0
	for j := range a.Persons() {
		p, pii := a.Person(j), a.PII(j)
		invalid += len(pii.Invalid)
		segs := strings.ReplaceAll(pii.Segments, ";", ",")
		var publisher map[string]bool
		if p.UserIndex >= 0 {
			publisher = map[string]bool{}
			for _, x := range u.User(p.UserIndex).Identifiers {
				publisher[x.Value] = true
			}
		}
		for _, x := range p.Identifiers {
			col := map[identity.Tag]string{identity.TagEmailSHA256: "email", identity.TagPhoneSHA256: "phone",
				identity.TagMAID: "maid", identity.TagIPAddress: "ip"}[x.Tag]
			if slices.Contains(pii.Invalid, col) {
				continue
			}
			want = append(want, x.Value+"\t"+string(x.Tag)+"\t"+segs)
			if publisher[x.Value] {
				checkedPublisher++
			}
		}
	}
	if !slices.Equal(rows, want) {
		for i := range min(len(rows), len(want)) {
			if rows[i] != want[i] {
				t.Fatalf("upload row %d is %q, want %q", i, rows[i], want[i])
			}
		}
		t.Fatalf("%d upload rows, want %d", len(rows), len(want))
	}
	if len(rejects) != invalid || sum.Rows != int64(a.Persons()) {
		t.Errorf("%d rejects for %d invalid values; %d rows read of %d persons", len(rejects), invalid, sum.Rows, a.Persons())
	}
	if checkedPublisher < 1000 {
		t.Errorf("only %d prepared values found among the publisher's identifiers", checkedPublisher)
	}
	t.Logf("%d upload rows, %d rejects, %d values also held by the publisher", len(rows), len(rejects), checkedPublisher)
}

func BenchmarkRun(b *testing.B) {
	u, _ := synth.NewUniverse(synth.UniverseConfig{Seed: 1, Users: 1_000_000})
	a, _ := synth.NewAdvertiser(u, synth.AdvertiserConfig{Seed: 1, Rows: 200_000, Overlap: 0.3})
	var raw bytes.Buffer
	a.WritePII(&raw, synth.WriteOptions{})
	b.SetBytes(int64(raw.Len()))
	for b.Loop() {
		if _, err := prepare.Run(bytes.NewReader(raw.Bytes()), discard{}, nil, prepare.Options{DefaultCountryCode: "44"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(a.Persons())*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
