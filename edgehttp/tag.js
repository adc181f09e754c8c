/* Clean Room page tag: sends the visitor's cohort codes to GPT, Prebid and Xandr's AST.
   Async, dependency-free, fails open: without codes within the timeout, the ads go on. */
(function (w, d) {
  "use strict";
  var C = /*CONFIG*/{};
  var cr = w.cleanroom = w.cleanroom || {};
  if (cr.loaded) { return; }
  cr.loaded = true;
  var script = d.currentScript;
  var base = C.base || (script && script.src ? script.src.replace(/\/tag\.js(\?.*)?$/, "") : "");

  function readUID() {
    if (cr.uid) { return String(cr.uid); }
    if (C.cookie) {
      var parts = ("; " + d.cookie).split("; " + C.cookie + "=");
      if (parts.length > 1) { return decodeURIComponent(parts.pop().split(";")[0]); }
    }
    if (C.storage) {
      try { var v = w.localStorage.getItem(C.storage); if (v) { return v; } } catch (e) { /* storage blocked */ }
    }
    return "";
  }

  // hold replaces a command queue (an array before its library loads) with one that keeps the
  // page's commands until release, so the codes are set before the ad requests go out. A queue
  // the library already took over is left alone.
  function hold(obj, name) {
    var q = obj[name] = obj[name] || [];
    if (!Array.isArray(q)) { return function (first) { first && q.push(first); }; }
    // The page's commands queued so far run after ours too.
    var held = q.splice(0, q.length), released = false;
    var holder = [];
    holder.push = function () { for (var i = 0; i < arguments.length; i++) { held.push(arguments[i]); } return held.length; };
    obj[name] = holder;
    return function (first) {
      if (released) { return; }
      released = true;
      var cur = obj[name] === holder ? q : obj[name];
      obj[name] = cur;
      if (first) { cur.push(first); }
      for (var i = 0; i < held.length; i++) { cur.push(held[i]); }
    };
  }

  var gt = w.googletag = w.googletag || {};
  var pb = w.pbjs = w.pbjs || {};
  var apn = w.apntag = w.apntag || {};
  var releaseGPT = hold(gt, "cmd");
  var releasePB = hold(pb, "que");
  var releaseAPN = hold(apn, "anq");
  var uid = readUID();
  var done = false;

  // mergeOrtb2 returns a copy of cfg (an ortb2 object) with the codes' user.data entry and
  // user.keywords added: the page's own entries and keywords are kept.
  function mergeOrtb2(cfg, answer) {
    var ortb2 = JSON.parse(JSON.stringify(cfg || {}));
    var user = ortb2.user = ortb2.user || {};
    var mine = answer.ortb2.user;
    if (mine.data) {
      var data = (user.data || []).filter(function (e) { return !e || e.name !== mine.data[0].name; });
      user.data = data.concat(mine.data);
    }
    if (mine.keywords) {
      var kws = user.keywords ? String(user.keywords).split(",") : [];
      mine.keywords.split(",").forEach(function (k) { if (kws.indexOf(k) < 0) { kws.push(k); } });
      user.keywords = kws.join(",");
    }
    return ortb2;
  }

  // keepOrtb2 keeps the codes in Prebid's ortb2 when the page sets its own later: Prebid's
  // setConfig({ortb2}) replaces the whole ortb2, so a page command run after ours (its held
  // commands are) would drop the codes before requestBids. The page's value is kept as it is,
  // the codes added to it.
  // mergeConfig merges arrays (user.data stays) but replaces strings: a later user.keywords
  // gets the codes' keywords appended.
  function keepOrtb2(answer) {
    wrap("setConfig", function (o) { return mergeOrtb2(o, answer); });
    wrap("mergeConfig", function (o) {
      if (!o.user || typeof o.user.keywords !== "string") { return o; }
      var copy = JSON.parse(JSON.stringify(o));
      copy.user.keywords = mergeOrtb2({ user: { keywords: o.user.keywords } }, { ortb2: { user: { keywords: answer.ortb2.user.keywords } } }).user.keywords;
      return copy;
    });
  }
  function wrap(name, change) {
    var fn = w.pbjs[name];
    if (typeof fn !== "function" || fn.cleanroom) { return; }
    var wrapped = function (c) {
      var args = Array.prototype.slice.call(arguments);
      if (c && typeof c === "object" && c.ortb2 && typeof c.ortb2 === "object") {
        var copy = {}, k;
        for (k in c) { if (c.hasOwnProperty(k)) { copy[k] = c[k]; } }
        copy.ortb2 = change(c.ortb2);
        args[0] = copy;
      }
      return fn.apply(this, args);
    };
    wrapped.cleanroom = true;
    w.pbjs[name] = wrapped;
  }

  function apply(answer) {
    if (done) { return; }
    done = true;
    cr.codes = answer;
    var gam = answer && answer.gam || {}, xandr = answer && answer.xandr || {};
    var has = false, k;
    for (k in gam) { if (gam.hasOwnProperty(k)) { has = true; } }
    releaseGPT(has ? function () {
      for (var key in gam) { if (gam.hasOwnProperty(key)) { w.googletag.pubads().setTargeting(key, gam[key]); } }
    } : null);
    releasePB(has ? function () {
      w.pbjs.setConfig({ ortb2: mergeOrtb2(typeof w.pbjs.getConfig === "function" && w.pbjs.getConfig("ortb2"), answer) });
      keepOrtb2(answer);
    } : null);
    // Page-level keywords reach every AST tag on the page (setKeywords would set one tag's).
    releaseAPN(has ? function () { w.apntag.setPageOpts({ keywords: xandr }); } : null);
  }

  // Reporting served line items: GPT's slotRenderEnded names the line item; impressions are sent
  // in batches as text/plain, which needs no CORS preflight.
  var pending = [], timer = 0;
  function flush() {
    timer = 0;
    if (!pending.length || !w.navigator.sendBeacon) { pending = []; return; }
    var body = JSON.stringify({ events: pending.splice(0, 500) });
    w.navigator.sendBeacon(base + "/events", new Blob([body], { type: "text/plain" }));
    // A reported impression may reach a cap: the next page asks anew instead of reusing the
    // browser's cached answer.
    try { w.localStorage.setItem("cleanroom_v", String(Date.now())); } catch (e) { /* storage blocked */ }
  }
  function version() {
    try { var v = w.localStorage.getItem("cleanroom_v"); return v ? "&v=" + encodeURIComponent(v) : ""; } catch (e) { return ""; }
  }
  if (uid) {
    gt.cmd.push(function () {
      w.googletag.pubads().addEventListener("slotRenderEnded", function (e) {
        if (e.isEmpty || !e.lineItemId) { return; }
        pending.push({ uid: uid, line_item: String(e.lineItemId), t: Date.now() });
        if (!timer) { timer = w.setTimeout(flush, C.flushMs || 1000); }
      });
    });
    w.addEventListener("pagehide", flush);
    d.addEventListener("visibilitychange", function () { if (d.visibilityState === "hidden") { flush(); } });
  }

  if (!uid || !w.fetch) { apply(null); return; }
  var ctrl = w.AbortController ? new w.AbortController() : null;
  // The wait for the codes: the edge's (500 ms), or the page's own window.cleanroom.timeout in
  // milliseconds (at most 10 s).
  var wait = C.timeout || 500;
  if (typeof cr.timeout === "number" && cr.timeout > 0) { wait = Math.min(cr.timeout, 10000); }
  var t = w.setTimeout(function () { if (ctrl) { ctrl.abort(); } apply(null); }, wait);
  w.fetch(base + "/targeting?uid=" + encodeURIComponent(uid) + version(), { credentials: "omit", mode: "cors", signal: ctrl && ctrl.signal })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (a) { w.clearTimeout(t); apply(a); }, function () { w.clearTimeout(t); apply(null); });
})(window, document);
