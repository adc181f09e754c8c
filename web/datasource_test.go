package web_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

// postFile submits a multipart form with one file field.
func (b *webClient) postFile(path, field, name string, content []byte) (int, string) {
	b.w.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf_token", b.csrf)
	fw, _ := mw.CreateFormFile(field, name)
	fw.Write(content)
	mw.Close()
	res, err := b.c.Post(b.w.srv.URL+path, mw.FormDataContentType(), &body)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer res.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(res.Body)
	return res.StatusCode, out.String()
}

// TestDataSourcePages: an advertiser's member creates a data source (a viewer cannot; a bad name
// keeps the form), renames it, uploads its taxonomy (a bad file lists its rows and changes
// nothing), grants it to a connected publisher's workspace chosen by name, revokes the grant, and
// deletes it after a confirmation that lists what is shredded; another org sees none of it.
func TestDataSourcePages(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	acme := w.signIn("crm@acme.example")
	if status, _, html := w.signIn("look@acme.example").post("/data-sources", url.Values{"name": {"Viewer's"}}); status != 403 || !strings.Contains(html, "needs the member role") {
		t.Errorf("a viewer creating a data source: %d", status)
	}
	status, _, html := acme.post("/data-sources", url.Values{"name": {"  "}, "description": {"weekly list"}})
	if status != 400 || !strings.Contains(html, `value="weekly list"`) || !strings.Contains(html, "The data source name is empty") {
		t.Errorf("empty name: %d, want 400 with the description kept and the error", status)
	}
	status, path, html := acme.post("/data-sources", url.Values{"name": {"Newsletter"}, "description": {"weekly list"}})
	m := regexp.MustCompile(`^/data-sources/([0-9a-f-]{36})$`).FindStringSubmatch(path)
	if status != 200 || m == nil || !strings.Contains(html, "<h1>Newsletter</h1>") {
		t.Fatalf("create: %d at %s", status, path)
	}
	id := m[1]
	if status, _ := w.signIn("crm@other.example").get("/data-sources/" + id); status != 404 {
		t.Errorf("another org's GET of the data source: %d, want 404", status)
	}
	if status, _, _ := acme.post("/data-sources/"+id, url.Values{"name": {"Newsletter subscribers"}, "description": {"weekly"}}); status != 200 {
		t.Errorf("rename: %d", status)
	}
	// The taxonomy: a bad file changes nothing and lists its rows; a good one is shown by name.
	status, html = acme.postFile("/data-sources/"+id+"/taxonomy", "taxonomy", "tax.csv", []byte("segment_id,name\nok,Fine\nbad id!,Broken\n"))
	if status != 400 || !strings.Contains(html, `id="taxonomy-errors"`) || !strings.Contains(html, "<td>3</td>") {
		t.Errorf("bad taxonomy: %d, want 400 listing line 3", status)
	}
	status, html = acme.postFile("/data-sources/"+id+"/taxonomy", "taxonomy", "tax.csv", []byte("segment_id,name\nnews,Newsletter readers\nvip,VIP\n"))
	if status != 200 || !strings.Contains(html, "Newsletter readers") || !strings.Contains(html, "Newsletter subscribers") {
		t.Errorf("taxonomy: %d", status)
	}
	// The grant form offers the connected publisher's workspace by name.
	if !strings.Contains(html, `<option value="`+w.pub.DemandSideID+`"`) {
		t.Errorf("the grant form does not offer Daily Planet's workspace")
	}
	status, _, html = acme.post("/data-sources/"+id+"/grants", url.Values{"grantee_id": {w.pub.DemandSideID}, "expires_at": {"2001-01-01"}, "allow_modeled": {"on"}})
	if status != 400 || !strings.Contains(html, "expires_at lies in the past") || !strings.Contains(html, `value="2001-01-01"`) || !strings.Contains(html, `name="allow_modeled" checked`) {
		t.Errorf("grant in the past: %d, want 400 with the values kept", status)
	}
	status, _, html = acme.post("/data-sources/"+id+"/grants", url.Values{"grantee_id": {w.pub.DemandSideID}, "expires_at": {"2099-12-31"}, "allow_matched": {"on"}})
	if status != 200 || !strings.Contains(html, "in force") {
		t.Fatalf("grant: %d", status)
	}
	gs, err := w.store.ListGrants(ctx, id, "")
	if err != nil || len(gs) != 1 || !gs[0].AllowMatched || gs[0].AllowModeled || gs[0].ExpiresAt.Format("2006-01-02") != "2100-01-01" {
		t.Fatalf("grants: %+v %v", gs, err)
	}
	if status, _, _ := w.signIn("crm@other.example").post("/grants/"+gs[0].ID+"/revoke", url.Values{}); status != 404 {
		t.Errorf("another org revoking: %d, want 404", status)
	}
	if status, _, html := acme.post("/grants/"+gs[0].ID+"/revoke", url.Values{}); status != 200 || !strings.Contains(html, "revoked") {
		t.Errorf("revoke: %d", status)
	}
	// Deleting: the confirmation lists what is shredded.
	_, html = acme.get("/data-sources/" + id)
	if !strings.Contains(html, "0 versions of the matched data") || !strings.Contains(html, "the taxonomy (2 segments)") || !strings.Contains(html, "1 grant (0 in force)") {
		t.Errorf("the delete confirmation does not list what is shredded")
	}
	if status, _, _ := w.signIn("crm@other.example").post("/data-sources/"+id+"/delete", url.Values{}); status != 404 {
		t.Errorf("another org deleting: %d, want 404", status)
	}
	if status, path, _ := acme.post("/data-sources/"+id+"/delete", url.Values{}); status != 200 || path != "/data-sources" {
		t.Errorf("delete: %d at %s", status, path)
	}
	if _, err := w.store.FindDataSource(ctx, id); cleanroom.ErrorCode(err) != cleanroom.ENOTFOUND {
		t.Errorf("after delete: %v", err)
	}
}
