// The browser's port of `cleanroom prepare` (packages prepare and identity): it turns a raw
// customer list into upload rows in the page, so raw personal data never leaves the browser.
// Email addresses and phone numbers become SHA-256 digests (crypto.subtle), mobile advertising
// IDs and IP addresses their canonical form, by the same rules as the Go code. One test-vector
// file (identity/testdata/prepare-vectors.json) is checked against both implementations.
"use strict";
(() => {
  const MAX_VALUE_LENGTH = 256; // bytes, identity.MaxValueLength
  const MAX_SEGMENT_LENGTH = 128; // bytes, prepare.MaxSegmentLength
  const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const enc = new TextEncoder();
  const byteLength = (s) => enc.encode(s).length;

  // Go's unicode.IsSpace, which strings.TrimSpace and the email check use.
  const SPACE = "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";
  const isSpace = (c) => SPACE.includes(c);
  const trimSpace = (s) => {
    let i = 0, j = s.length;
    while (i < j && isSpace(s[i])) i++;
    while (j > i && isSpace(s[j - 1])) j--;
    return s.slice(i, j);
  };
  const hasControl = (s) => /\p{Cc}/u.test(s);
  const isHexDigit = (c) => /^[0-9a-fA-F]$/.test(c);
  const isHex = (s) => /^[0-9a-fA-F]*$/.test(s);
  const isDecimal = (s) => /^[0-9]+$/.test(s);

  class ValueError {
    constructor(tag, reason, message, hint) { Object.assign(this, { tag, reason, message, hint }); }
  }

  // trimAndCheck: identity.trimAndCheck.
  function trimAndCheck(tag, value) {
    const v = trimSpace(value);
    if (v === "") throw new ValueError(tag, "empty", "the value is empty", "Remove rows that have no identifier.");
    const n = byteLength(v);
    if (n > MAX_VALUE_LENGTH) throw tooLong(tag, n);
    if (v.includes("\ufffd")) {
      // decodeText turned bytes that are not UTF-8 into U+FFFD.
      throw new ValueError(tag, "bad_utf8", "the value is not valid UTF-8 text", "Save the file as UTF-8 (not Latin-1 or UTF-16) and upload it again.");
    }
    if (hasControl(v)) {
      throw new ValueError(tag, "control_chars", "the value contains a control character such as a tab, a line break or NUL",
        "Remove the control characters, and check the file's quoting and line endings.");
    }
    return v;
  }
  const tooLong = (tag, n) => new ValueError(tag, "too_long", `the value is ${n} bytes long; the limit is ${MAX_VALUE_LENGTH}`,
    "Check that the fields are separated by tabs and that each field holds one identifier.");

  // normalizeEmail: identity.NormalizeEmail.
  function normalizeEmail(raw, foldGmail) {
    const tag = "email_sha256";
    const v = trimAndCheck(tag, raw);
    let email = v.toLowerCase();
    if (byteLength(email) > MAX_VALUE_LENGTH) throw tooLong(tag, byteLength(email));
    const at = email.indexOf("@");
    const local = at < 0 ? email : email.slice(0, at);
    const domain = at < 0 ? "" : email.slice(at + 1);
    const problem = emailProblem(email, local, domain);
    if (problem) throw badEmail(problem);
    if (foldGmail && (domain === "gmail.com" || domain === "googlemail.com")) {
      let l = local.split("+")[0].replaceAll(".", "");
      if (l === "") throw badEmail("the address has no local part once its dots and +suffix are removed");
      email = l + "@gmail.com";
    }
    return email;
  }
  function emailProblem(email, local, domain) {
    if (email.split("@").length - 1 !== 1) return "the address does not have exactly one @";
    if (local === "") return "the address has nothing before the @";
    if ([...email].some(isSpace) || /[<>,;]/.test(email)) {
      return "the address contains a space or one of < > , ; (a name or a list rather than one address)";
    }
    if (domain.indexOf(".") <= 0 || domain.endsWith(".") || domain.includes("..")) {
      return "the address's domain is not a name such as example.com";
    }
    return "";
  }
  const badEmail = (msg) => new ValueError("email_sha256", "bad_email", msg,
    "Fix or remove the address; each field must hold one address such as name@example.com.");

  const KEEPS_TRUNK_ZERO = { "39": true, "378": true };
  // normalizePhone: identity.NormalizePhone.
  function normalizePhone(raw, defaultCC) {
    const cc = (defaultCC || "").replace(/^\+/, "");
    if (defaultCC && (cc === "" || cc.length > 3 || cc[0] === "0" || !isDecimal(cc))) {
      throw new Error("The default country calling code must be 1 to 3 digits, such as 44 or +1.");
    }
    let v = trimAndCheck("phone_sha256", raw).replaceAll("(0)", "");
    let digits = "";
    let international = false;
    for (const c of v) {
      if (c >= "0" && c <= "9") digits += c;
      else if (c === "+" && digits.length === 0 && !international) international = true;
      else if (c === " " || c === "-" || c === "." || c === "(" || c === ")") { /* dropped */ }
      else throw badPhone("the number contains a character other than digits, +, spaces, dashes, dots and parentheses");
    }
    if (international) { /* as written */ }
    else if (digits.length >= 2 && digits.startsWith("00")) digits = digits.slice(2);
    else if (cc === "") throw badPhone("the number has no country code (+ or 00) and no default country calling code was given");
    else {
      if (digits.length > 0 && cc === "1" && digits[0] === "1") digits = digits.slice(1);
      else if (digits.length > 0 && digits[0] === "0" && !KEEPS_TRUNK_ZERO[cc]) digits = digits.slice(1);
      digits = cc + digits;
    }
    if (digits.length < 8 || digits.length > 15) {
      throw badPhone("the number has the wrong length: E.164 numbers have 8 to 15 digits, country code included");
    }
    if (digits[0] === "0") throw badPhone("the number's country code starts with 0");
    return "+" + digits;
  }
  const badPhone = (msg) => new ValueError("phone_sha256", "bad_phone", msg,
    "Write the number with its country code, such as +44 20 7946 0958, or set the default country calling code.");

  const KINDS = {
    email_sha256: { tag: "email_sha256", noun: "email address", recipe: "Trim and lowercase the address" },
    phone_sha256: { tag: "phone_sha256", noun: "phone number", recipe: "Write the number in E.164 form (+, country code, digits only)" },
  };
  const indefinite = (noun) => ("aeiou".includes(noun[0]) ? "an " : "a ") + noun;

  // normalizeSHA256: identity.normalizeSHA256 (a column of values hashed already).
  function normalizeSHA256(tag, value) {
    const k = KINDS[tag];
    const v = trimAndCheck(tag, value);
    if (isHex(v)) {
      if (v.length === 64) {
        const lower = v.toLowerCase();
        if (lower === EMPTY_SHA256) throw emptyHash(k);
        return lower;
      }
      if (v.length === 32) throw otherDigest(k, "md5", "MD5");
      if (v.length === 40) throw otherDigest(k, "sha1", "SHA-1");
      if (looksLikePhone(v)) throw rawValue(k, KINDS.phone_sha256);
      throw new ValueError(tag, "wrong_length", `the value has ${v.length} hexadecimal digits; a SHA-256 digest has 64`,
        "Upload whole digests: 64 hexadecimal digits, or 44 Base64 characters (43 without padding).");
    }
    const digest = decodeBase64(v);
    if (digest && digest.length === 32) {
      const h = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      if (h === EMPTY_SHA256) throw emptyHash(k);
      return h;
    }
    if (digest && digest.length === 16) throw otherDigest(k, "md5", "MD5");
    if (digest && digest.length === 20) throw otherDigest(k, "sha1", "SHA-1");
    if (v.includes("@")) throw rawValue(k, KINDS.email_sha256);
    if (looksLikePhone(v)) throw rawValue(k, KINDS.phone_sha256);
    throw new ValueError(tag, "not_hex", "the value is neither 64 hexadecimal digits nor a SHA-256 digest in Base64",
      "Upload each digest as 64 hexadecimal digits (0-9, a-f) or as Base64 of its 32 bytes, with nothing else in the field.");
  }
  // decodeBase64 decodes strict standard or URL-safe Base64, padded or (43 characters) not.
  function decodeBase64(v) {
    const urlSafe = /[-_]/.test(v);
    let padded;
    if (v.endsWith("=")) padded = true;
    else if (v.length === 43) padded = false;
    else return null;
    const alphabet = urlSafe ? /^[A-Za-z0-9\-_]*={0,2}$/ : /^[A-Za-z0-9+/]*={0,2}$/;
    if (!alphabet.test(v)) return null;
    let s = urlSafe ? v.replaceAll("-", "+").replaceAll("_", "/") : v;
    if (padded && s.length % 4 !== 0) return null;
    if (!padded) s += "=";
    let bin;
    try { bin = atob(s); } catch { return null; }
    const out = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    // Strict: the unused bits of the last character must be zero (re-encoding gives the input).
    let again = btoa(bin);
    if (urlSafe) again = again.replaceAll("+", "-").replaceAll("/", "_");
    if (!padded) again = again.replace(/=+$/, "");
    return again === v ? out : null;
  }
  function looksLikePhone(v) {
    let digits = 0;
    for (let i = 0; i < v.length; i++) {
      const c = v[i];
      if (c >= "0" && c <= "9") digits++;
      else if ((c === "+" && i === 0) || c === " " || c === "-" || c === "." || c === "(" || c === ")") { /* ok */ }
      else return false;
    }
    return digits >= 7 && digits <= 15;
  }
  function rawValue(k, found) {
    const reason = found.tag === "phone_sha256" ? "raw_phone" : "raw_email";
    if (found === k) {
      return new ValueError(k.tag, reason, `the value is a raw ${found.noun}, not its SHA-256 digest`,
        `${found.recipe}, SHA-256 it, and upload the 64-character hex digest (cleanroom prepare does this locally).`);
    }
    return new ValueError(k.tag, reason, `the value looks like a raw ${found.noun}, which is neither a SHA-256 digest nor ${indefinite(k.noun)}`,
      `${found.recipe}, SHA-256 it, and upload the 64-character hex digest tagged ${found.tag} (cleanroom prepare does this locally).`);
  }
  const otherDigest = (k, reason, fn) => new ValueError(k.tag, reason, `the value is ${indefinite(fn)} digest; matching uses SHA-256`,
    `Digests cannot be converted into one another: hash the original ${k.noun} with SHA-256 instead (cleanroom prepare does this locally).`);
  const emptyHash = (k) => new ValueError(k.tag, "empty_hash", `the value is the SHA-256 digest of an empty string, not of ${indefinite(k.noun)}`,
    `Skip rows whose ${k.noun} is empty before hashing them.`);

  // normalizeMAID: identity.normalizeMAID.
  function normalizeMAID(value) {
    let v = trimAndCheck("maid", value);
    if (v.length >= 2 && v[0] === "{" && v[v.length - 1] === "}") v = v.slice(1, -1);
    const bad = () => new ValueError("maid", "bad_uuid",
      v.length === 64 && isHex(v) ? "the value looks like a SHA-256 digest, but mobile advertising IDs are uploaded unhashed"
        : "the value is not a UUID (32 hexadecimal digits, usually written 8-4-4-4-12 with hyphens)",
      "Upload the IDFA or Android advertising ID as the device reports it, such as 6d92078a-8246-4ba4-ae5b-76104861e7dc.");
    let hex;
    if (v.length === 36) {
      if (v[8] !== "-" || v[13] !== "-" || v[18] !== "-" || v[23] !== "-") throw bad();
      hex = v.slice(0, 8) + v.slice(9, 13) + v.slice(14, 18) + v.slice(19, 23) + v.slice(24);
    } else if (v.length === 32) hex = v;
    else throw bad();
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw bad();
    hex = hex.toLowerCase();
    if (/^0+$/.test(hex)) {
      throw new ValueError("maid", "zero_maid", "the value is the all-zero advertising ID, which devices report when the user limits ad tracking",
        "Drop rows with the all-zero ID; they do not identify a device.");
    }
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // parseIPv4 parses a dotted quad as Go's netip does (no leading zeros), or returns null.
  function parseIPv4(s) {
    const parts = s.split(".");
    if (parts.length !== 4) return null;
    const out = [];
    for (const p of parts) {
      if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === "0")) return null;
      const n = Number(p);
      if (n > 255) return null;
      out.push(n);
    }
    return out;
  }
  // parseIPv6 parses an IPv6 address (with an optional embedded IPv4 tail) into 16 bytes, or
  // returns null; a zone makes it {zone: true}.
  function parseIPv6(s) {
    if (s.includes("%")) return parseIPv6(s.slice(0, s.indexOf("%"))) ? { zone: true } : null;
    if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
    let tail = [];
    const lastColon = s.lastIndexOf(":");
    if (s.slice(lastColon + 1).includes(".")) {
      const v4 = parseIPv4(s.slice(lastColon + 1));
      if (!v4) return null;
      tail = v4;
      s = s.slice(0, lastColon + 1) + "0:0"; // placeholder groups, replaced below
    }
    const halves = s.split("::");
    if (halves.length > 2) return null;
    const groups = (h) => (h === "" ? [] : h.split(":"));
    const head = groups(halves[0]), rest = halves.length === 2 ? groups(halves[1]) : [];
    for (const g of [...head, ...rest]) if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const total = head.length + rest.length;
    if (halves.length === 1 ? total !== 8 : total > 7) return null;
    const words = [...head, ...Array(8 - total).fill("0"), ...rest].map((g) => parseInt(g, 16));
    const bytes = [];
    for (const w of words) bytes.push(w >> 8, w & 255);
    if (tail.length) bytes.splice(12, 4, ...tail);
    return bytes;
  }
  // formatIPv6 writes 16 bytes as RFC 5952 (Go's netip): lowercase, no leading zeros, the
  // longest run of two or more zero groups (the first of equals) as ::.
  function formatIPv6(bytes) {
    const w = [];
    for (let i = 0; i < 16; i += 2) w.push((bytes[i] << 8) | bytes[i + 1]);
    let best = -1, bestLen = 0;
    for (let i = 0; i < 8;) {
      if (w[i] !== 0) { i++; continue; }
      let j = i;
      while (j < 8 && w[j] === 0) j++;
      if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
      i = j;
    }
    let out = "";
    for (let i = 0; i < 8; i++) {
      if (i === best) { out += "::"; i += bestLen - 1; continue; }
      if (out !== "" && !out.endsWith(":")) out += ":";
      out += w[i].toString(16);
    }
    return out;
  }
  // normalizeIP: identity.normalizeIP.
  function normalizeIP(value) {
    const v = trimAndCheck("ip_address", value);
    const hint = "Upload one address per row, as a dotted quad (203.0.113.7) or in IPv6 notation (2001:db8::7), without port, prefix length or zone.";
    let v4 = parseIPv4(v), v6 = null;
    if (!v4) v6 = parseIPv6(v);
    if (!v4 && !v6) {
      let msg = "the value is not an IPv4 or IPv6 address";
      const port = v.match(/^(.*):([0-9]+)$/);
      const prefix = v.match(/^(.*)\/([0-9]+)$/);
      if (port && (parseIPv4(port[1]) || (/^\[.*\]$/.test(port[1]) && Array.isArray(parseIPv6(port[1].slice(1, -1)))))) {
        msg = "the value has a port number after the address";
      } else if (prefix && (parseIPv4(prefix[1]) || Array.isArray(parseIPv6(prefix[1])))) {
        msg = "the value is a network prefix, not a single address";
      }
      throw new ValueError("ip_address", "bad_ip", msg, hint);
    }
    if (v6 && v6.zone) {
      throw new ValueError("ip_address", "bad_ip", "the value has an IPv6 zone (after %), which only has a meaning on the host that recorded it", hint);
    }
    if (v6 && v6.slice(0, 10).every((b) => b === 0) && v6[10] === 255 && v6[11] === 255) v4 = v6.slice(12); // Unmap
    const drop = (msg) => new ValueError("ip_address", "bad_ip", msg, "Drop these rows; use the address the user's device connected from.");
    if (v4) {
      if (v4.every((b) => b === 0)) throw drop("the value is the unspecified address (0.0.0.0 or ::), which identifies no device");
      if (v4[0] === 127) throw drop("the value is a loopback address, which identifies no device");
      if (v4[0] >= 224 && v4[0] <= 239) throw drop("the value is a multicast address, which identifies no device");
      if (v4.every((b) => b === 255)) throw drop("the value is the broadcast address, which identifies no device");
      return v4.join(".");
    }
    if (v6.every((b) => b === 0)) throw drop("the value is the unspecified address (0.0.0.0 or ::), which identifies no device");
    if (v6.slice(0, 15).every((b) => b === 0) && v6[15] === 1) throw drop("the value is a loopback address, which identifies no device");
    if (v6[0] === 255) throw drop("the value is a multicast address, which identifies no device");
    return formatIPv6(v6);
  }

  async function sha256Hex(bytes) {
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  const reasonOf = (e) => (e instanceof ValueError ? e.reason : "invalid");

  // field returns the upload value of a raw field for tag (prepare.normalize): emails and phones
  // hashed, a column hashed already accepted as it is.
  async function field(tag, raw, opts) {
    if (tag !== "email_sha256" && tag !== "phone_sha256") {
      return tag === "maid" ? normalizeMAID(raw) : normalizeIP(raw);
    }
    try {
      const n = tag === "email_sha256" ? normalizeEmail(raw, !!opts.foldGmail) : normalizePhone(raw, opts.defaultCountryCode || "");
      return await sha256Hex(enc.encode(n));
    } catch (err) {
      if (!(err instanceof ValueError)) throw err;
      try {
        return normalizeSHA256(tag, raw);
      } catch (e) {
        if (["md5", "sha1", "empty_hash"].includes(reasonOf(e))) throw e;
        throw err;
      }
    }
  }

  const INPUTS = [
    { name: "email", aliases: ["email", "emails", "emailaddress", "mail", "hashedemail"], tag: "email_sha256" },
    { name: "phone", aliases: ["phone", "phonenumber", "mobile", "mobilephone", "mobilenumber", "cell", "cellphone", "tel", "telephone", "msisdn"], tag: "phone_sha256" },
    { name: "maid", aliases: ["maid", "idfa", "aaid", "gaid", "adid", "ifa", "advertisingid", "mobileadid", "deviceid"], tag: "maid" },
    { name: "ip", aliases: ["ip", "ipaddress", "ipv4", "ipv6"], tag: "ip_address" },
  ];
  const SEGMENT_ALIASES = ["segments", "segment", "segmentids", "segmentid", "audiences", "audience", "lists"];
  const squash = (s) => s.replace(/[ \-_.]/g, "").toLowerCase();

  function segmentProblem(s) {
    if (s === "") return "is empty";
    if (byteLength(s) > MAX_SEGMENT_LENGTH) return `is longer than ${MAX_SEGMENT_LENGTH} characters`;
    if (/[\t,]/.test(s)) return "contains a tab or a comma";
    if (hasControl(s)) return "contains a control character";
    return "";
  }

  function detectDelimiter(head) {
    const counts = { ",": 0, ";": 0, "\t": 0 };
    let quoted = false;
    for (const c of head) {
      if (c === '"') quoted = !quoted;
      else if (!quoted && c in counts) counts[c]++;
    }
    let best = ",";
    for (const c of [";", "\t"]) if (counts[c] > counts[best]) best = c;
    return best;
  }

  // records splits text into CSV records (quoted fields may span lines), each with the line it
  // starts on, or a problem; blank lines are skipped, as package rows does.
  function* records(text, sep, startLine, startAt) {
    let i = startAt, line = startLine;
    const n = text.length;
    while (i < n) {
      const first = line;
      let fields = [], cur = "", quoted = false, atStart = true, bad = false;
      for (;;) {
        if (i >= n) { if (quoted) bad = true; break; }
        const c = text[i];
        if (quoted) {
          if (c === '"') {
            if (text[i + 1] === '"') { cur += '"'; i += 2; continue; }
            quoted = false; i++; continue;
          }
          if (c === "\n") line++;
          cur += c; i++; continue;
        }
        if (c === '"' && atStart) { quoted = true; atStart = false; i++; continue; }
        if (c === '"') { bad = true; }
        if (c === sep) { fields.push(cur); cur = ""; atStart = true; i++; continue; }
        if (c === "\r" && text[i + 1] === "\n") { i++; continue; }
        if (c === "\n") { i++; line++; break; }
        cur += c; atStart = false; i++;
      }
      fields.push(cur);
      if (!bad && fields.length === 1 && trimSpace(fields[0]) === "") continue; // blank line
      if (bad) {
        // A stray quote: skip to the end of the physical line it started on, as rows does.
        yield { line: first, problem: "bad_csv" };
        continue;
      }
      yield { line: first, fields };
    }
  }

  // decodeText reads the file's bytes as UTF-8 (gzip by magic bytes), without a byte order mark.
  async function decodeText(bytes) {
    if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    }
    let text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    if (text.startsWith("\ufeff")) text = text.slice(1);
    return text;
  }

  class PrepareError extends Error {
    constructor(message, hint) { super(message); this.hint = hint; }
  }

  // run prepares the CSV text as prepare.Run does and returns { output (string), summary,
  // rejects: [{line, column, reason, hint}] }. opts: defaultCountryCode, foldGmail, segments
  // (added to every row), segmentsSeparator, and the columns (email, phone, maid, ip,
  // segmentsColumn) when not detected. onProgress(rows) is called now and then.
  async function run(text, opts = {}, onProgress) {
    const sepSeg = opts.segmentsSeparator || ";";
    if (opts.defaultCountryCode) normalizePhone("+4420794609580", opts.defaultCountryCode); // checks the code
    const fixed = (opts.segments || []).map((s) => trimSpace(s)).filter((s) => s !== "");
    for (const s of fixed) {
      const p = segmentProblem(s);
      if (p) throw new PrepareError(`The segment ID "${s}" ${p}.`, `Use segment IDs of at most ${MAX_SEGMENT_LENGTH} characters without tabs or commas.`);
    }
    // The header: the first line that is not blank.
    let i = 0, line = 1, head = "";
    for (;;) {
      if (i >= text.length) throw new PrepareError("The file is empty.", "Export the list as CSV with a header row naming the columns, such as email,phone,segments.");
      let j = text.indexOf("\n", i);
      if (j < 0) j = text.length;
      head = text.slice(i, j).replace(/\r$/, "");
      i = j + 1;
      if (trimSpace(head) !== "") break;
      line++;
    }
    const sep = opts.delimiter || detectDelimiter(head);
    const headRec = records(head, sep, line, 0).next().value;
    if (!headRec || headRec.problem) throw new PrepareError("The header row is not valid CSV (a stray or unclosed quote).", "Check the quoting of the first line.");
    const header = headRec.fields.map(trimSpace);
    const find = (named, aliases) => {
      if (named) {
        const at = header.findIndex((h) => h.toLowerCase() === named.trim().toLowerCase());
        if (at < 0) throw new PrepareError(`Column "${named}" not found; the header has: ${header.join(", ")}.`, "Choose one of these columns.");
        return at;
      }
      return header.findIndex((h) => aliases.includes(squash(h)));
    };
    const cols = INPUTS.map((inp) => find(opts[inp.name], inp.aliases));
    if (Math.max(...cols) < 0) {
      throw new PrepareError(`No identifier column found; the header has: ${header.join(", ")}.`,
        "Name the columns email, phone, maid or ip, or export the file with a comma, semicolon or tab between the columns.");
    }
    const segCol = find(opts.segmentsColumn, SEGMENT_ALIASES);
    if (segCol < 0 && fixed.length === 0) {
      throw new PrepareError(`No segments column found; the header has: ${header.join(", ")}.`,
        "Add a segments column, or give a segment for every row.");
    }
    const summary = { rows: 0, rowsWritten: 0, written: {}, rejected: {}, columns: {} };
    INPUTS.forEach((inp, k) => { if (cols[k] >= 0) summary.columns[inp.name] = header[cols[k]]; });
    if (segCol >= 0) summary.columns.segments = header[segCol];
    const rejects = [];
    const reject = (ln, column, reason, hint) => {
      summary.rejected[reason] = (summary.rejected[reason] || 0) + 1;
      rejects.push({ line: ln, column, reason, hint });
    };
    const out = [];
    for (const rec of records(text, sep, line + 1, i)) {
      summary.rows++;
      if (onProgress && summary.rows % 16384 === 0) { onProgress(summary.rows); await new Promise((r) => setTimeout(r)); }
      if (rec.problem) {
        reject(rec.line, "", "bad_csv", 'Quote fields that contain quotes or the delimiter, and double the quotes inside them ("").');
        continue;
      }
      const record = rec.fields;
      if (record.length !== header.length) {
        reject(rec.line, "", "field_count", `The line has ${record.length} fields but the header has ${header.length}: quote fields that contain the delimiter.`);
        continue;
      }
      const segs = [...fixed];
      let segBad = false;
      if (segCol >= 0) {
        for (let s of record[segCol].split(sepSeg)) {
          s = trimSpace(s);
          if (s === "" || segs.includes(s)) continue;
          if (segmentProblem(s)) { segBad = true; break; }
          segs.push(s);
        }
      }
      if (segBad) {
        reject(rec.line, header[segCol], "bad_segment",
          `Segment IDs are at most ${MAX_SEGMENT_LENGTH} characters, without tabs, commas or control characters; separate them with "${sepSeg}" (--segments-sep).`);
        continue;
      }
      if (segs.length === 0) {
        reject(rec.line, header[segCol], "no_segments", "Give every row at least one segment ID, or pass --segment ID to add one to every row.");
        continue;
      }
      let present = 0, written = 0;
      for (let k = 0; k < INPUTS.length; k++) {
        const c = cols[k];
        if (c < 0 || trimSpace(record[c]) === "") continue;
        present++;
        let value;
        try {
          value = await field(INPUTS[k].tag, record[c], opts);
        } catch (e) {
          if (!(e instanceof ValueError)) throw e;
          reject(rec.line, header[c], e.reason, e.hint);
          continue;
        }
        out.push(value + "\t" + INPUTS[k].tag + "\t" + segs.join(",") + "\n");
        summary.written[INPUTS[k].tag] = (summary.written[INPUTS[k].tag] || 0) + 1;
        written++;
      }
      if (present === 0) reject(rec.line, "", "no_identifier", "The row has no email, phone, MAID or IP value; drop it or fill one in.");
      if (written > 0) summary.rowsWritten++;
    }
    if (onProgress) onProgress(summary.rows);
    return { output: out.join(""), summary, rejects };
  }

  window.CleanroomPrepare = { run, field, decodeText, sha256Hex, ValueError, PrepareError,
    normalizeEmail, normalizePhone, normalizeMAID, normalizeIP, normalizeSHA256 };
})();
