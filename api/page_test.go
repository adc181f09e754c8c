package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/cleanroom-oss/cleanroom"
)

func TestPageList(t *testing.T) {
	items := []string{"a", "b", "c", "d", "e"}
	var got []string
	after, pages := "", 0
	for {
		pages++
		r := httptest.NewRequest("GET", "/v1/x?limit=2&after="+after, nil)
		res, err := pageList(r, items, func(s string) string { return s })
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Items...)
		if res.Next == "" {
			break
		}
		after = res.Next
		if pages > 5 {
			t.Fatal("no end")
		}
	}
	if pages != 3 || fmtList(got) != "abcde" {
		t.Errorf("%d pages, items %v", pages, got)
	}
	r := httptest.NewRequest("GET", "/v1/x?after=bm9wZQ", nil)
	if _, err := pageList(r, items, func(s string) string { return s }); cleanroom.ErrorCode(err) != cleanroom.EINVALID {
		t.Errorf("a foreign cursor: %v", err)
	}
	r = httptest.NewRequest("GET", "/v1/x", nil)
	res, err := pageList(r, []string(nil), func(s string) string { return s })
	if b, _ := json.Marshal(res); err != nil || string(b) != `{"items":[]}` {
		t.Errorf("empty list: %s %v", b, err)
	}
}

func fmtList(s []string) string {
	out := ""
	for _, x := range s {
		out += x
	}
	return out
}
