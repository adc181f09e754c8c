package edge

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestAppendAnswerParses(t *testing.T) {
	f := &Format{GAMKey: "crc", XandrKey: "crc_x", Name: "cleanroom.example", Segtax: 600}
	for _, tc := range []struct {
		name  string
		f     Format
		codes []uint32
		want  string
	}{
		{"none", *f, nil, `{"gam":{},"xandr":{},"ortb2":{"user":{}}}`},
		{"one", *f, []uint32{100001}, `{"gam":{"crc":["100001"]},"xandr":{"crc_x":["100001"]},"ortb2":{"user":{"data":[{"name":"cleanroom.example","ext":{"segtax":600},"segment":[{"id":"100001"}]}],"keywords":"crc_x=100001"}}}`},
		{"two", *f, []uint32{100001, 100002}, `{"gam":{"crc":["100001","100002"]},"xandr":{"crc_x":["100001","100002"]},"ortb2":{"user":{"data":[{"name":"cleanroom.example","ext":{"segtax":600},"segment":[{"id":"100001"},{"id":"100002"}]}],"keywords":"crc_x=100001,crc_x=100002"}}}`},
		{"no segtax, odd name", Format{GAMKey: "k", XandrKey: "x", Name: "a\"b<\x01é\xff"}, []uint32{4294967295}, `{"gam":{"k":["4294967295"]},"xandr":{"x":["4294967295"]},"ortb2":{"user":{"data":[{"name":"a\"b\u003c\u0001é\ufffd","segment":[{"id":"4294967295"}]}],"keywords":"x=4294967295"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := AppendAnswer([]byte("prefix"), &tc.f, tc.codes)[len("prefix"):]
			var parsed, want any
			if err := json.Unmarshal(got, &parsed); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(parsed, want) {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAnswerShapes(t *testing.T) {
	codes := []uint32{100001, 100002}
	var gam map[string][]string
	if err := json.Unmarshal(AppendGAM(nil, "crc", codes), &gam); err != nil || !reflect.DeepEqual(gam, map[string][]string{"crc": {"100001", "100002"}}) {
		t.Fatalf("GAM: %v %v", gam, err)
	}
	var data struct {
		Name string `json:"name"`
		Ext  struct {
			Segtax int `json:"segtax"`
		} `json:"ext"`
		Segment []struct {
			ID string `json:"id"`
		} `json:"segment"`
	}
	if err := json.Unmarshal(AppendUserData(nil, "cleanroom.example", 4, codes), &data); err != nil {
		t.Fatal(err)
	}
	if data.Name != "cleanroom.example" || data.Ext.Segtax != 4 || len(data.Segment) != 2 || data.Segment[1].ID != "100002" {
		t.Fatalf("user.data: %+v", data)
	}
	var kw string
	if err := json.Unmarshal(AppendKeywords(nil, "crc", codes), &kw); err != nil || kw != "crc=100001,crc=100002" {
		t.Fatalf("keywords %q %v", kw, err)
	}
}

func TestAppendAnswerAllocatesNothing(t *testing.T) {
	f := &Format{GAMKey: "crc", XandrKey: "crc", Name: "cleanroom.example", Segtax: 600}
	buf := make([]byte, 0, 1024)
	codes := []uint32{100001, 100002, 100003}
	if n := testing.AllocsPerRun(100, func() { buf = AppendAnswer(buf[:0], f, codes) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestCheckKeyAndFormat(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"crc", true}, {"_a1", true}, {"A_very_long_key_2026", true},
		{"", false}, {"1abc", false}, {"a=b", false}, {"a,b", false}, {"a b", false}, {"a\"", false}, {"é", false}, {"key_of_twenty_one_ch", true}, {"key_of_twenty_one_chr", false},
	} {
		if err := CheckKey(tc.key); (err == nil) != tc.ok {
			t.Errorf("CheckKey(%q) = %v, want ok %v", tc.key, err, tc.ok)
		}
	}
	if err := (&Format{GAMKey: "a", XandrKey: "b", Name: ""}).Check(); err == nil {
		t.Error("a format without a name passed")
	}
	if err := (&Format{GAMKey: "a", XandrKey: "b", Name: "x.example"}).Check(); err != nil {
		t.Error(err)
	}
}
