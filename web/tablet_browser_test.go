package web_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/cleanroom-oss/cleanroom"
)

// TestBrowserTabletWidth: at a tablet's width (768px, portrait), every page of the publisher, the
// advertiser and the workspace fits: the body does not overflow sideways, and the navigation and
// every table end inside the window.
func TestBrowserTabletWidth(t *testing.T) {
	needBrowser(t)
	w := newCohortWorld(t)
	co, err := w.api.Cohorts.Create(context.Background(), cleanroom.NewCaller(w.adv.ID, cleanroom.RoleAdmin), cohortSpecAll(w))
	if err != nil {
		t.Fatal(err)
	}
	w.drain()
	pages := map[string][]string{
		"ops@planet.example": {"/", "/connections", "/audience", "/cohorts", "/activation", "/jobs", "/audit", "/settings"},
		"crm@acme.example":   {"/", "/connections", "/data-sources", "/data-sources/" + w.dataSource, "/cohorts", "/cohorts/" + co.ID, "/jobs", "/audit", "/settings"},
		"ws@planet.example":  {"/", "/data-sources", "/cohorts", "/settings"},
	}
	type fit struct {
		Inner  float64 `json:"inner"`
		Scroll float64 `json:"scroll"`
		Nav    float64 `json:"nav"`
		Table  float64 `json:"table"`
	}
	for email, paths := range pages {
		b := w.cohortTab(email)
		b.do("tablet viewport", chromedp.EmulateViewport(768, 1024))
		for _, p := range paths {
			b.navigate(p)
			got := js[fit](b, `(() => {
				const right = (els) => Math.max(0, ...[...els].map((e) => e.getBoundingClientRect().right));
				return {inner: window.innerWidth, scroll: document.documentElement.scrollWidth,
					nav: right(document.querySelectorAll("header, nav, nav a")), table: right(document.querySelectorAll("main table"))};
			})()`)
			if got.Scroll > got.Inner {
				t.Errorf("%s %s: the page is %vpx wide in a %vpx window", email, p, got.Scroll, got.Inner)
				t.Logf("%s %s: past the window: %s", email, p, js[string](b, `[...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > window.innerWidth).slice(0, 8).map((e) => e.tagName + "#" + e.id + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join(" | ")`))
			}
			if got.Nav > got.Inner || got.Table > got.Inner {
				t.Errorf("%s %s: the navigation ends at %vpx and the widest table at %vpx, in a %vpx window", email, p, got.Nav, got.Table, got.Inner)
			}
		}
		if email == "crm@acme.example" {
			b.navigate("/data-sources/" + w.dataSource)
			b.screenshot("tablet-data-source")
		}
	}
}
