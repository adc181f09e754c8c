package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/ingest"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// Limits of the sample checkUploadFile reads.
const (
	precheckRows  = 1000
	precheckBytes = 1 << 20
)

// checkUploadFile reads the start of a file about to be uploaded (up to precheckRows lines or
// precheckBytes, decompressed when it is gzipped) and refuses it, before anything is sent, when
// it holds raw email addresses or phone numbers: a header naming email or phone columns over
// plain values (a raw export, not an upload file), or rows the server's own validation
// (ingest) would refuse as raw_email or raw_phone. Other problems are left to the server, whose
// report names them.
func checkUploadFile(path string) error {
	sample, err := readSample(path)
	if err != nil {
		return err
	}
	rows, raw := rawIdentifierRows(sample)
	if raw == 0 {
		return nil
	}
	return cleanroom.Errorf(cleanroom.EINVALID,
		"%s holds raw email addresses or phone numbers (%d of the first %d rows); nothing was sent, as raw personal data must not leave this machine.",
		path, raw, rows).
		Hint("Hash them here first: cleanroom prepare --in %s --out upload.tsv, then upload upload.tsv.", path)
}

// readSample returns the first lines of the file at path, decompressed, read as the server
// reads uploads (package rows).
func readSample(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := rows.NewReader(f, rows.Options{Limits: rows.Limits{MaxBytes: -1, MaxRows: -1}, MaxLineBytes: ingest.DefaultMaxLineBytes})
	if err != nil {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%s starts like gzip but cannot be decompressed.", path).Wrap(err)
	}
	var sample bytes.Buffer
	for n := 0; n < precheckRows && rd.Bytes() < precheckBytes; n++ {
		l, err := rd.Line()
		if err != nil {
			break // the end of the file; a damaged tail is the server's to report
		}
		if !l.Bad() { // a line too long is left to the server too
			sample.Write(l.Text)
			sample.WriteByte('\n')
		}
	}
	return sample.Bytes(), nil
}

// rawIdentifierRows returns how many data rows the sample holds and how many of them hold a raw
// email address or phone number.
func rawIdentifierRows(sample []byte) (rows, raw int) {
	lines := strings.Split(strings.TrimRight(string(sample), "\n"), "\n")
	var data []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			data = append(data, strings.TrimSuffix(l, "\r"))
		}
	}
	if len(data) == 0 {
		return 0, 0
	}
	// A raw export: a header naming email or phone columns whose values are not digests.
	delim := sampleDelimiter(data[0])
	header := splitSample(strings.TrimPrefix(data[0], "\ufeff"), delim)
	var emailCols, phoneCols []int
	for i, name := range header {
		switch rawColumn(name) {
		case "email":
			emailCols = append(emailCols, i)
		case "phone":
			phoneCols = append(phoneCols, i)
		}
	}
	if len(emailCols)+len(phoneCols) > 0 {
		rows = len(data) - 1
		for _, l := range data[1:] {
			fields := splitSample(l, delim)
			if rawIn(fields, emailCols, looksLikeRawEmail) || rawIn(fields, phoneCols, looksLikeRawPhone) {
				raw++
			}
		}
		return rows, raw
	}
	// An upload file: what the server's validation would refuse as raw values.
	key := make([]byte, identity.FingerprintKeySize)
	rand.Read(key)
	v, rep, _ := ingest.Advertiser(context.Background(), bytes.NewReader(sample), nil,
		ingest.Options{FingerprintKey: key, MaxErrorRate: 1, Workers: 1})
	if v != nil {
		v.Close()
	}
	if rep == nil {
		return 0, 0
	}
	return int(rep.RowsRead), int(rep.Rejected[string(identity.ReasonRawEmail)] + rep.Rejected[string(identity.ReasonRawPhone)])
}

// sampleDelimiter guesses a header line's delimiter: a tab, a semicolon or a comma.
func sampleDelimiter(header string) string {
	switch {
	case strings.Contains(header, "\t"):
		return "\t"
	case strings.Count(header, ";") > strings.Count(header, ","):
		return ";"
	}
	return ","
}

// splitSample splits a line at delim and unquotes the fields (enough for a header and plain
// values; the server parses the file properly).
func splitSample(line, delim string) []string {
	fields := strings.Split(line, delim)
	for i, f := range fields {
		fields[i] = strings.Trim(strings.TrimSpace(f), `"`)
	}
	return fields
}

// rawColumn says whether a header names a column of raw email addresses ("email") or phone
// numbers ("phone"), or neither; a column named as hashed (sha256, hash, md5) is neither.
func rawColumn(name string) string {
	n := strings.ToLower(name)
	n = strings.NewReplacer("_", "", "-", "", " ", "").Replace(n)
	if strings.Contains(n, "sha") || strings.Contains(n, "hash") || strings.Contains(n, "md5") {
		return ""
	}
	switch {
	case strings.Contains(n, "email") || n == "mail":
		return "email"
	case strings.Contains(n, "phone") || strings.Contains(n, "mobile") || n == "msisdn" || n == "tel" || n == "telephone" || n == "cell":
		return "phone"
	}
	return ""
}

// rawIn reports whether one of the columns cols of fields holds a raw value by looksRaw.
func rawIn(fields []string, cols []int, looksRaw func(string) bool) bool {
	for _, c := range cols {
		if c < len(fields) && looksRaw(fields[c]) {
			return true
		}
	}
	return false
}

// looksLikeRawEmail reports whether v is an email address as people write it.
func looksLikeRawEmail(v string) bool {
	if !strings.Contains(v, "@") {
		return false
	}
	_, err := identity.NormalizeEmail(v, false)
	return err == nil
}

// looksLikeRawPhone reports whether v is a phone number as people write it: what the server
// refuses as raw_phone where a SHA-256 digest belongs.
func looksLikeRawPhone(v string) bool {
	if v == "" {
		return false
	}
	_, err := identity.Normalize(identity.TagPhoneSHA256, v)
	return identity.ReasonOf(err) == identity.ReasonRawPhone
}

// precheckDescription is how the upload command's help describes the check.
var precheckDescription = fmt.Sprintf(`Before sending anything, the command reads the file's first %d rows and refuses a file that
holds raw email addresses or phone numbers (hash them with cleanroom prepare first).`, precheckRows)
