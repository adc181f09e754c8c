package pubsync

import (
	"bytes"
	"fmt"
	"unsafe"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/rows"
)

// Columns of a profile file.
const (
	colUser = iota
	colCountry
	colIDs
	colCohorts
	numCols
)

var profileColumnNames = [numCols]string{"user_id", "country", "identifiers", "cohorts"}

// layout is what the header says about the file.
type layout struct {
	csv   bool
	ncols int
	col   [numCols]int // position of each column, -1 if absent
	attrs []attrCol    // engagement attribute columns
}

// dialect returns how the file's lines split into fields.
func (l layout) dialect() rows.Dialect {
	if l.csv {
		return rows.CSV
	}
	return rows.TSV
}

// rec is one identity row being built: a fingerprint and the user it belongs to (a block-local
// index while parsing, then an ordinal).
type rec struct {
	fp  identity.Fingerprint
	ord uint32
}

// bucketBits is the number of leading fingerprint bits that partition each tag's rows into
// independently sorted buckets.
const (
	bucketBits = 12
	numBuckets = 1 << bucketBits
)

// bucketOf returns the bucket of a fingerprint: its leading bucketBits bits.
func bucketOf(fp *identity.Fingerprint) uint32 {
	return (uint32(fp[0])<<8 | uint32(fp[1])) >> (16 - bucketBits)
}

// block is a piece of the input cut at a line end, numbered in file order.
type block struct {
	rows.Block
	seq int
}

// blockTag holds a block's identifiers of one tag.
type blockTag struct {
	tag       int      // index into the registry's tags
	recs      []rec    // sorted by bucket; ord is the block-local user index
	off       []uint32 // numBuckets+1 offsets of the buckets in recs
	firstLine uint32   // block-relative line of the first identifier of this tag
	lines     []uint32 // block-relative lines of the first identifiers (at most maxListedErrors)
}

// blockResult is what a worker makes of a block.
type blockResult struct {
	seq     int
	bytes   int
	lines   uint32   // lines in the block
	rows    int64    // data rows (non-blank lines)
	errRows int64    // rows with at least one error
	skipped []uint32 // block-relative lines that produced no user, ascending

	users int // users in the block

	// The user-ID hashes with their block-local users, sorted by bucket (leading bits of the
	// hash); the bucket k is users[uoff[k]:uoff[k+1]].
	userRecs []urec
	uoff     []uint32
	country  []uint16 // per user, in line order

	tags []blockTag

	// Cohort memberships grouped by cohort: users cohUsers[cohOff[i]:cohOff[i+1]] (block-local,
	// ascending) are in cohort cohIDs[i].
	cohIDs   []uint32
	cohOff   []uint32
	cohUsers []uint32

	attrs []blockAttr // per engagement attribute

	errs errorList // Line fields are block-relative (0-based) until the block is committed

	firstLine int64 // file line number of the block's line 0
	// Set when the block is committed.
	base uint32 // pre-ordinal of the block's first user
}

// tagCacheEntry remembers how a worker resolved one spelling of a tag.
type tagCacheEntry struct {
	spelling string
	idx      int // index into the registry's tags, -1 if unknown
	err      *identity.ValueError
}

// worker parses blocks. Each worker has its own Fingerprinter and scratch space.
type worker struct {
	arenas *arenas
	cfg    *config
	lay    layout
	tax    *Taxonomy
	fp     *identity.Fingerprinter

	fields   [][]byte
	scratch  []byte
	tagCache []tagCacheEntry
	tagRecs  [][]rec // per registry tag, unsorted
	tagFirst []int64
	tagLines [][]uint32
	pairs    []cohortPair
	userCoh  []uint32
	cohCount []uint32

	hashes  []uint64 // the block's user hashes and countries while parsing
	country []uint16
	tmpRecs []rec  // scratch for bucketing
	tmpU    []urec // scratch for bucketing

	res    *blockResult
	rel    uint32 // current block-relative line
	rowErr bool   // the current row has an error
	nUsers uint32
	attrs  []attrScratch // per engagement attribute
}

// cohortPair is one membership: block-local user u is in cohort c.
type cohortPair struct{ c, u uint32 }

// arenas hold the per-block arrays of one sync.
type arenas struct {
	recs    arena[rec]
	urecs   arena[urec]
	offs    arena[uint32]
	country arena[uint16]
}

func newArenas() *arenas {
	const chunk = 32 << 20 // bytes
	return &arenas{
		recs:    arena[rec]{chunk: chunk / 20},
		urecs:   arena[urec]{chunk: chunk / 12},
		offs:    arena[uint32]{chunk: chunk / 4},
		country: arena[uint16]{chunk: chunk / 2},
	}
}

func newWorker(cfg *config, lay layout, tax *Taxonomy, ar *arenas) *worker {
	n := len(cfg.regTags)
	return &worker{
		cfg: cfg, lay: lay, tax: tax, fp: cfg.fp.Clone(), arenas: ar,
		tagRecs: make([][]rec, n), tagFirst: make([]int64, n), tagLines: make([][]uint32, n),
		cohCount: make([]uint32, tax.Len()+1),
	}
}

// addErr records an error on the current row.
func (w *worker) addErr(reason, msg, hint string) {
	w.rowErr = true
	w.res.errs.add(RowError{Line: int64(w.rel), Reason: reason, Message: msg, Hint: hint})
}

// parse turns a block into a blockResult.
func (w *worker) parse(b *block) *blockResult {
	res := &blockResult{seq: b.seq, bytes: b.Size(), lines: uint32(b.Lines()), firstLine: b.FirstLine()}
	w.res, w.nUsers = res, 0
	for i := range w.tagRecs {
		w.tagRecs[i] = w.tagRecs[i][:0]
		w.tagFirst[i] = -1
		w.tagLines[i] = nil
	}
	w.pairs = w.pairs[:0]
	w.hashes, w.country = w.hashes[:0], w.country[:0]
	next := uint32(0) // the block-relative number of the next line
	for l, ok := b.Next(); ok; l, ok = b.Next() {
		w.rel = uint32(l.No - b.FirstLine())
		for ; next < w.rel; next++ {
			res.skipped = append(res.skipped, next) // lines taken off the block: the header
		}
		next = w.rel + 1
		w.line(l)
	}
	w.finish()
	return res
}

// line parses one line of the block.
func (w *worker) line(l rows.Line) {
	res := w.res
	line := l.Text
	if !l.Bad() && rows.Blank(line) {
		res.skipped = append(res.skipped, w.rel)
		return
	}
	res.rows++
	w.rowErr = false
	defer func() {
		if w.rowErr {
			res.errRows++
		}
	}()
	if l.Bad() { // too long
		w.addErr(ReasonLineTooLong, fmt.Sprintf("the line is longer than %d bytes", w.cfg.MaxLineBytes),
			"Check that rows are separated by line breaks; raise the line limit for users with very many identifiers.")
		res.skipped = append(res.skipped, w.rel)
		return
	}
	var ok bool
	w.fields, w.scratch, ok = w.lay.dialect().Split(line, w.fields, w.scratch)
	if !ok {
		w.addErr(ReasonBadQuoting, rows.BadQuoting.Message, rows.BadQuoting.Hint)
		res.skipped = append(res.skipped, w.rel)
		return
	}
	if len(w.fields) > w.lay.ncols {
		sep := "tabs"
		if w.lay.csv {
			sep = "commas; quote fields that contain commas"
		}
		w.addErr(ReasonColumnCount, fmt.Sprintf("the row has %d columns; the header has %d", len(w.fields), w.lay.ncols),
			"Separate the columns with "+sep+".")
		res.skipped = append(res.skipped, w.rel)
		return
	}
	field := func(c int) []byte {
		if i := w.lay.col[c]; i >= 0 && i < len(w.fields) {
			return w.fields[i]
		}
		return nil
	}
	uid := rows.TrimSpace(field(colUser))
	if len(uid) == 0 {
		w.addErr(ReasonMissingUserID, "the row has no user ID",
			"Give every row the publisher's ID of the user in the user_id column.")
		res.skipped = append(res.skipped, w.rel)
		return
	}
	if len(uid) > MaxUserIDBytes {
		w.addErr(ReasonBadUserID, fmt.Sprintf("the user ID is %d bytes long; the limit is %d", len(uid), MaxUserIDBytes),
			"Check that the columns are in the order the header names.")
		res.skipped = append(res.skipped, w.rel)
		return
	}
	if control, bad := textProblems(uid); bad || control {
		reason, msg := ReasonBadUserID, "the user ID contains a control character"
		if bad {
			reason, msg = ReasonBadUTF8, "the user ID is not valid UTF-8 text"
		}
		w.addErr(reason, msg, "Save the file as UTF-8 and write user IDs without control characters.")
		res.skipped = append(res.skipped, w.rel)
		return
	}
	// The row makes a user: from here on, problems drop single fields.
	local := w.nUsers
	w.nUsers++
	w.hashes = append(w.hashes, w.cfg.users.hashBytes(uid))
	c := field(colCountry)
	code, ok := parseCountry(c)
	if !ok {
		e := badCountryError(int64(w.rel), c)
		w.addErr(e.Reason, e.Message, e.Hint)
	}
	w.country = append(w.country, code)
	w.identifiers(field(colIDs), local)
	w.cohorts(field(colCohorts), local)
	if len(w.lay.attrs) > 0 {
		w.attributes(func(i int) []byte {
			if i < len(w.fields) {
				return w.fields[i]
			}
			return nil
		}, local)
	}
}

// unsafeString returns b as a string without copying; the string must not outlive b.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// identifiers parses the identifiers field of user local.
func (w *worker) identifiers(f []byte, local uint32) {
	for len(f) > 0 {
		var item []byte
		if i := bytes.IndexByte(f, ','); i >= 0 {
			item, f = f[:i], f[i+1:]
		} else {
			item, f = f, nil
		}
		item = rows.TrimSpace(item)
		if len(item) == 0 {
			continue
		}
		eq := bytes.IndexByte(item, '=')
		if eq < 0 {
			w.addErr(ReasonBadIdentifier, "an identifier is not written type=value; it is dropped",
				"Write each identifier as its type, an equals sign and the value, such as maid=6d92078a-8246-4ba4-ae5b-76104861e7dc, separated by commas.")
			continue
		}
		t, verr := w.tag(item[:eq])
		if verr != nil {
			w.addErr(string(verr.Reason), verr.Message+"; the identifier is dropped", verr.Hint)
			continue
		}
		tag := w.cfg.regTags[t]
		value := item[eq+1:]
		var norm string
		var err error
		if canonical(tag, value) {
			norm = unsafeString(value)
		} else {
			norm, err = w.cfg.reg.Normalize(tag, unsafeString(value))
		}
		if err != nil {
			if ve, ok := err.(*identity.ValueError); ok {
				w.addErr(string(ve.Reason), ve.Error()+"; the identifier is dropped", ve.Hint)
			} else {
				w.addErr(ReasonBadIdentifier, string(tag)+": the identifier is not valid; it is dropped", "")
			}
			continue
		}
		w.tagRecs[t] = append(w.tagRecs[t], rec{fp: w.fp.Fingerprint(tag, norm), ord: local})
		if w.tagFirst[t] < 0 {
			w.tagFirst[t] = int64(w.rel)
		}
		if len(w.tagLines[t]) < maxListedErrors {
			w.tagLines[t] = append(w.tagLines[t], w.rel)
		}
	}
}

// tag resolves a tag spelling through the worker's cache.
func (w *worker) tag(s []byte) (int, *identity.ValueError) {
	for i := range w.tagCache {
		if e := &w.tagCache[i]; e.spelling == string(s) {
			return e.idx, e.err
		}
	}
	e := tagCacheEntry{spelling: string(s), idx: -1}
	tag, err := identity.ParseTag(w.cfg.reg, e.spelling)
	if err != nil {
		ve, ok := err.(*identity.ValueError)
		if !ok {
			ve = &identity.ValueError{Reason: identity.ReasonUnknownTag, Message: "unknown identifier type"}
		}
		e.err = ve
	} else if i, ok := w.cfg.regIdx[tag]; ok {
		e.idx = i
	} else {
		e.err = &identity.ValueError{Reason: identity.ReasonUnknownTag, Message: "unknown identifier type"}
	}
	if len(w.tagCache) < 64 {
		w.tagCache = append(w.tagCache, e)
	}
	return e.idx, e.err
}

// cohorts parses the cohorts field of user local.
func (w *worker) cohorts(f []byte, local uint32) {
	w.userCoh = w.userCoh[:0]
	unknown := false
	for len(f) > 0 {
		var item []byte
		if i := bytes.IndexByte(f, ','); i >= 0 {
			item, f = f[:i], f[i+1:]
		} else {
			item, f = f, nil
		}
		item = rows.TrimSpace(item)
		if len(item) == 0 {
			continue
		}
		c, ok := w.tax.lookup(item)
		if !ok {
			unknown = true
			continue
		}
		dup := false
		for _, x := range w.userCoh {
			dup = dup || x == c
		}
		if !dup {
			w.userCoh = append(w.userCoh, c)
			w.pairs = append(w.pairs, cohortPair{c, local})
		}
	}
	if unknown {
		w.addErr(ReasonUnknownCohort, "a cohort ID is not in the taxonomy; that membership is dropped",
			"Add the cohort to the taxonomy first, or correct the cohort ID.")
	}
}

// finish sorts the block's identity rows by bucket and groups its memberships by cohort.
func (w *worker) finish() {
	res := w.res
	res.users = len(w.hashes)
	res.country = w.arenas.country.alloc(len(w.country))
	copy(res.country, w.country)
	for t, rs := range w.tagRecs {
		if len(rs) == 0 {
			continue
		}
		bt := blockTag{tag: t, recs: w.arenas.recs.alloc(len(rs)), off: w.arenas.offs.alloc(numBuckets + 1),
			firstLine: uint32(w.tagFirst[t]), lines: w.tagLines[t]}
		if cap(w.tmpRecs) < len(rs) {
			w.tmpRecs = make([]rec, len(rs)+len(rs)/4)
		}
		bucketRecs(rs, w.tmpRecs[:len(rs)], bt.recs, bt.off)
		res.tags = append(res.tags, bt)
	}
	// User hashes.
	if cap(w.tmpU) < 2*len(w.hashes) {
		w.tmpU = make([]urec, 2*len(w.hashes)+len(w.hashes)/2)
	}
	in, tmp := w.tmpU[:len(w.hashes)], w.tmpU[len(w.hashes):2*len(w.hashes)]
	for u, h := range w.hashes {
		in[u] = newURec(h, uint32(u))
	}
	res.userRecs, res.uoff = w.arenas.urecs.alloc(len(in)), w.arenas.offs.alloc(numBuckets+1)
	bucketURecs(in, tmp, res.userRecs, res.uoff)
	w.finishAttributes()
	// Memberships by cohort (a stable counting sort keeps users ascending).
	if len(w.pairs) > 0 {
		cnt := w.cohCount
		clear(cnt)
		for _, p := range w.pairs {
			cnt[p.c]++
		}
		for c, n := range cnt {
			if n > 0 {
				res.cohIDs = append(res.cohIDs, uint32(c))
			}
		}
		// cnt becomes the write cursor of each cohort.
		res.cohOff = make([]uint32, len(res.cohIDs)+1)
		sum := uint32(0)
		for i, c := range res.cohIDs {
			res.cohOff[i] = sum
			n := cnt[c]
			cnt[c] = sum
			sum += n
		}
		res.cohOff[len(res.cohIDs)] = sum
		res.cohUsers = make([]uint32, len(w.pairs))
		for _, p := range w.pairs {
			res.cohUsers[cnt[p.c]] = p.u
			cnt[p.c]++
		}
	}
}
