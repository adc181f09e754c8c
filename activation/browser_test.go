package activation_test

// A real-browser test of the page tag (tag.js): headless Chromium, driven with chromedp, loads a
// page that stands in for GPT, Prebid and Xandr's AST with objects recording every call. It needs
// Chromium (Debian's /usr/bin/chromium, `chromium` on PATH, or CLEANROOM_TEST_CHROMIUM) and skips
// without one unless CLEANROOM_TEST_BROWSER=1 (CI) makes it fail, as web's browser tests do.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/app"
)

func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CLEANROOM_TEST_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CLEANROOM_TEST_BROWSER") == "1" {
		t.Fatal("CLEANROOM_TEST_BROWSER=1 but no Chromium; install it with .ci/install-chromium.sh")
	}
	t.Skip("browser test skipped: no Chromium (apt-get install chromium, or set CLEANROOM_TEST_CHROMIUM)")
	return ""
}

// page is the test page: stand-ins for GPT (its command queue runs once "GPT loads", right
// after the tag's script ran, so the tag must hold the page's commands while it waits for the
// edge), Prebid (a que, getConfig with the page's own ortb2, setConfig recorded and replacing
// ortb2 as Prebid's does, mergeConfig replacing user.keywords as Prebid's merge of a string does) and AST (anq, setPageOpts recorded), and the page's own ad calls queued
// before the tag loads; the Prebid one sets ortb2 of its own again and merges keywords, as pages
// do, and records the ortb2 requestBids would send. The page gives the tag its wait for the codes (wait, in ms; the
// tag's own when 0), and the user ID as the publisher configured it (via: "cookie" or "storage",
// the cookie or localStorage key planet_uid; window.cleanroom.uid otherwise).
const page = `<!doctype html><html><head><script>
window.calls = [];
window.listeners = {};
window.cleanroom = {};
(function (uid, via) {
  if (via === "cookie") { document.cookie = "planet_uid=" + encodeURIComponent(uid) + "; path=/"; }
  else if (via === "storage") { localStorage.setItem("planet_uid", uid); }
  else { window.cleanroom.uid = uid; }
})(%q, %q);
if (%d > 0) { window.cleanroom.timeout = %d; }
window.googletag = {cmd: []};
window.pbjs = {que: [], ortb2: {site: {page: "x"}, user: {data: [{name: "other.example", segment: [{id: "7"}]}], keywords: "a=b"}},
  getConfig: function (k) { return k === "ortb2" ? window.pbjs.ortb2 : undefined; },
  setConfig: function (c) { calls.push(["pbjs.setConfig", JSON.parse(JSON.stringify(c))]); if (c.ortb2) { window.pbjs.ortb2 = c.ortb2; } },
  mergeConfig: function (c) { calls.push(["pbjs.mergeConfig", c]); var u = window.pbjs.ortb2.user = window.pbjs.ortb2.user || {};
    if (c.ortb2 && c.ortb2.user && c.ortb2.user.keywords) { u.keywords = c.ortb2.user.keywords; } }};
window.apntag = {anq: [], setPageOpts: function (o) { calls.push(["apntag.setPageOpts", o]); }};
googletag.cmd.push(function () { calls.push(["page.display"]); });
pbjs.que.push(function () {
  pbjs.setConfig({ortb2: {site: {page: "x"}, user: {keywords: "late=1"}}});
  pbjs.mergeConfig({ortb2: {user: {keywords: "late=2"}}});
  calls.push(["page.requestBids", JSON.parse(JSON.stringify(pbjs.getConfig("ortb2")))]);
});
apntag.anq.push(function () { calls.push(["page.loadTags"]); });
function run(q) { for (var i = 0; i < q.length; i++) { q[i](); } q.length = 0; return {push: function (f) { f(); }}; }
function gptLoads() {
  googletag.pubads = function () { return {
    setTargeting: function (k, v) { calls.push(["gpt.setTargeting", k, v]); },
    addEventListener: function (n, f) { (listeners[n] = listeners[n] || []).push(f); }}; };
  googletag.cmd = run(googletag.cmd);
  pbjs.que = run(pbjs.que);
  apntag.anq = run(apntag.anq);
}
</script><script async src="%s" onload="gptLoads()" onerror="gptLoads()"></script></head><body>page</body></html>`

// TestBrowserTag: the tag sets the codes before the page's ad calls (GPT key-values, Prebid
// ortb2 merged with the page's, AST keywords), beacons impressions after slotRenderEnded until a
// cap of 2 withholds the code, and a slow or dead edge lets the page's ads go on.
func TestBrowserTag(t *testing.T) {
	path := chromium(t)
	ctx := context.Background()
	// The page talks to the edge's own listener (serve --edge-addr: the edge's HTTP loop).
	w := newWorldWith(t, 3000, func(c *app.Config) { c.EdgeAddr = "127.0.0.1:0" })
	act := w.m.Activation
	pubMember := cleanroom.NewCaller(w.pub.ID, cleanroom.RoleMember)
	co := w.cohort(cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember), "Acme - CRM", w.conn, w.ds)
	code := co.Targets[0].Code

	// The page's server, and a stand-in edge that is slow or down for targeting (tag.js is the
	// real one).
	var mode string
	pages := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html")
		wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
		q := r.URL.Query()
		fmt.Fprintf(rw, page, q.Get("uid"), q.Get("via"), wait, wait, q.Get("tag"))
	}))
	defer pages.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tag.js") {
			resp, err := http.Get(w.m.URL() + r.URL.Path)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			rw.Header().Set("Content-Type", "text/javascript")
			io.Copy(rw, resp.Body)
			return
		}
		switch mode {
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "down":
			if hj, ok := rw.(http.Hijacker); ok {
				c, _, _ := hj.Hijack()
				c.Close()
			}
		}
	}))
	defer broken.Close()

	_, err := act.PutSettings(ctx, cleanroom.NewCaller(w.pub.ID, cleanroom.RoleAdmin), cleanroom.AdServerSettings{GAMKey: "crc", XandrKey: "crx",
		Origins: []string{pages.URL}, UIDCookie: "planet_uid", UIDStorageKey: "planet_uid"})
	must(t, err)
	_, err = act.SetDeal(ctx, pubMember, co.ID, w.conn, &cleanroom.Deal{ProposalID: "4242", ProposalName: "Planet - GAM - Acme - Agency",
		LineItems: []cleanroom.LineItem{{ID: "5551234567", Floor: "2.50", Currency: "USD"}}})
	must(t, err)
	_, err = act.SetSwitches(ctx, pubMember, co.ID, w.conn, cleanroom.ActivationSwitches{Direct: true, Programmatic: true})
	must(t, err)
	_, err = act.SetCap(ctx, cleanroom.NewCaller(w.adv.ID, cleanroom.RoleMember), co.ID, cleanroom.FrequencyCap{MaxImpressions: 2, Period: cleanroom.CapWeek})
	must(t, err)
	w.waitFor("the capped code to be served", func() bool {
		m, err := act.Manifest(ctx, w.pub.ID)
		must(t, err)
		return len(m.Caps) == 1 && w.m.Edge.Digest(w.pub.ID) == m.Digest
	})
	uid := w.member(code, nil)
	tagURL := w.m.EdgeURL() + "/edge/v1/" + w.pub.ID + "/tag.js"

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-dev-shm-usage", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	bctx, cancelT := context.WithTimeout(bctx, 2*time.Minute)
	defer cancelT()

	type call []json.RawMessage
	name := func(c call) string { var s string; json.Unmarshal(c[0], &s); return s }
	// load opens the page and returns its calls once the page's three ad calls have run. The
	// cases that expect the edge's answer give the tag a long wait (answer is set): an answer
	// slowed down by a loaded machine must not pass for a timeout. The edge slow or down keeps the
	// tag's own 500 ms.
	const answerWait = 10000
	var via string // how the page gives the user ID
	load := func(uid, tag string, wait int) []call {
		t.Helper()
		u := pages.URL + "/?uid=" + url.QueryEscape(uid) + "&tag=" + url.QueryEscape(tag) + "&wait=" + strconv.Itoa(wait) + "&via=" + via
		_, err := chromedp.Run(bctx, chromedp.Navigate(u))
		must(t, err)
		var calls []call
		w.waitFor("the page's ad calls", func() bool {
			raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify(window.calls)`))
			must(t, err)
			must(t, json.Unmarshal([]byte(raw), &calls))
			n := 0
			for _, c := range calls {
				if strings.HasPrefix(name(c), "page.") {
					n++
				}
			}
			return n == 3
		})
		return calls
	}
	index := func(calls []call, n string) int {
		for i, c := range calls {
			if name(c) == n {
				return i
			}
		}
		return -1
	}
	c := itoa(code)

	t.Run("codes before the ads", func(t *testing.T) {
		calls := load(uid, tagURL, answerWait)
		set, display := index(calls, "gpt.setTargeting"), index(calls, "page.display")
		if set < 0 || display < 0 || set > display {
			t.Fatalf("setTargeting at %d, display at %d: %s", set, display, mustMarshal(calls))
		}
		if got := string(calls[set][1]) + string(calls[set][2]); got != `"crc"["`+c+`"]` {
			t.Errorf("setTargeting(%s)", got)
		}
		pc := index(calls, "pbjs.setConfig")
		if pc < 0 || pc > index(calls, "page.requestBids") {
			t.Fatalf("pbjs.setConfig at %d, requestBids at %d", pc, index(calls, "page.requestBids"))
		}
		var cfg struct {
			ORTB2 struct {
				Site map[string]string `json:"site"`
				User struct {
					Data []struct {
						Name    string `json:"name"`
						Segment []struct {
							ID string `json:"id"`
						} `json:"segment"`
					} `json:"data"`
					Keywords string `json:"keywords"`
				} `json:"user"`
			} `json:"ortb2"`
		}
		must(t, json.Unmarshal(calls[pc][1], &cfg))
		u := cfg.ORTB2.User
		if cfg.ORTB2.Site["page"] != "x" || len(u.Data) != 2 || u.Data[0].Name != "other.example" || u.Data[1].Segment[0].ID != c ||
			u.Keywords != "a=b,crx="+c {
			t.Errorf("ortb2 not merged: %s", calls[pc][1])
		}
		// The page's own setConfig({ortb2}) after the tag's (Prebid replaces ortb2) keeps the
		// codes: what requestBids sends is the page's ortb2 with the codes added.
		var bid struct {
			Site map[string]string `json:"site"`
			User struct {
				Data []struct {
					Segment []struct {
						ID string `json:"id"`
					} `json:"segment"`
				} `json:"data"`
				Keywords string `json:"keywords"`
			} `json:"user"`
		}
		// Nor does its mergeConfig of keywords (Prebid replaces a string): the codes' keywords
		// are appended.
		rb := index(calls, "page.requestBids")
		must(t, json.Unmarshal(calls[rb][1], &bid))
		if bid.Site["page"] != "x" || bid.User.Keywords != "late=2,crx="+c || len(bid.User.Data) != 1 || bid.User.Data[0].Segment[0].ID != c {
			t.Errorf("ortb2 at requestBids, after the page's own setConfig and mergeConfig: %s", calls[rb][1])
		}
		if pageSet := calls[rb-2]; name(pageSet) != "pbjs.setConfig" || !strings.Contains(string(pageSet[1]), `"keywords":"late=1,crx=`+c+`"`) {
			t.Errorf("the page's setConfig: %s", mustMarshal(pageSet))
		}
		ap := index(calls, "apntag.setPageOpts")
		if ap < 0 || ap > index(calls, "page.loadTags") || string(calls[ap][1]) != `{"keywords":{"crx":["`+c+`"]}}` {
			t.Errorf("AST: %s", mustMarshal(calls))
		}
	})

	// The tag finds the user ID in the cookie or the localStorage key the publisher configured.
	for _, v := range []string{"cookie", "storage"} {
		t.Run("user ID from the "+v, func(t *testing.T) {
			via = v
			defer func() { via = "" }()
			calls := load(uid, tagURL, answerWait)
			set := index(calls, "gpt.setTargeting")
			if set < 0 || set > index(calls, "page.display") || string(calls[set][2]) != `["`+c+`"]` {
				t.Errorf("codes by the %s's user ID: %s", v, mustMarshal(calls))
			}
			_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.cookie = "planet_uid=; path=/; max-age=0"; localStorage.removeItem("planet_uid"); true`))
			must(t, err)
		})
	}

	t.Run("impressions reach the cap", func(t *testing.T) {
		for i := range 2 {
			load(uid, tagURL, answerWait)
			_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(listeners.slotRenderEnded||[]).forEach(function (f) {
				f({isEmpty: false, lineItemId: 5551234567}); f({isEmpty: true}); }); true`))
			must(t, err)
			if i == 0 {
				// The tag sends the batch a second later, or when the page goes away.
				w.waitFor("the first impression", func() bool {
					return w.m.Edge.Events.Load() >= 1
				})
				if !has(w.codes(uid), code) {
					t.Fatalf("code withheld after one impression")
				}
			}
		}
		w.waitFor("the cap to withhold the code", func() bool { return !has(w.codes(uid), code) })
		calls := load(uid, tagURL, answerWait)
		if index(calls, "gpt.setTargeting") >= 0 || index(calls, "page.display") < 0 {
			t.Errorf("capped user: %s", mustMarshal(calls))
		}
	})

	for _, m := range []string{"slow", "down"} {
		t.Run("edge "+m, func(t *testing.T) {
			mode = m
			start := time.Now()
			calls := load(uid, broken.URL+"/edge/v1/"+w.pub.ID+"/tag.js", 0)
			t.Logf("edge %s: the page's ad calls ran after %v", m, time.Since(start))
			rb := index(calls, "page.requestBids")
			if index(calls, "gpt.setTargeting") >= 0 || index(calls, "pbjs.setConfig") != rb-2 || strings.Contains(string(calls[rb][1]), "crx=") {
				t.Errorf("targeting set without an answer: %s", mustMarshal(calls))
			}
		})
	}

	// The browser's requests (tag, targeting, beacons, through the edge's own loop) left the
	// user ID in no log line.
	for _, line := range strings.Split(w.log.String(), "\n") {
		if strings.Contains(line, uid) {
			t.Errorf("log line holds the user ID: %s", line)
		}
	}
}

func mustMarshal(v any) string { b, _ := json.Marshal(v); return string(b) }
