package match

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Options tunes a match.
type Options struct {
	// Workers is the number of goroutines; < 1 means GOMAXPROCS.
	Workers int
	// Bridges are identity-bridge mappings. A bridge whose From tag the advertiser holds and the
	// publisher does not is used to match those rows through the bridge's To tag.
	Bridges []*Bridge
}

// Result is the outcome of matching one advertiser data-source version with one publisher
// version. Its bitmaps hold publisher ordinals and never an erased (Deleted) one. They are
// read-only: they may share memory with each other's containers (clone before modifying).
type Result struct {
	// Segments is the data source's segment IDs (the advertiser version's, in taxonomy order).
	Segments []string
	// Matched is parallel to Segments: the publisher users matched by a row of each segment.
	Matched []*roaring.Bitmap
	// Any is the publisher users matched by any row of the data source, with or without a
	// segment.
	Any *roaring.Bitmap
	// Tags holds the per-identifier-type diagnostics, sorted by Tag then PublisherTag.
	Tags []TagStats
}

// Segment returns the bitmap of the segment with the given ID, or Any for "". It reports false
// when the data source has no such segment.
func (r *Result) Segment(id string) (*roaring.Bitmap, bool) {
	if id == "" {
		return r.Any, true
	}
	i := slices.Index(r.Segments, id)
	if i < 0 {
		return nil, false
	}
	return r.Matched[i], true
}

// TagStats are the match diagnostics of one identifier type: what each side holds of it and how
// much of it matched. There is one entry per advertiser tag (one per bridge used, when several
// bridges apply to it) and one per publisher tag the advertiser does not hold.
type TagStats struct {
	// Tag is the identifier type: the advertiser's, or for an entry with no advertiser rows,
	// the publisher's.
	Tag identity.Tag
	// PublisherTag is the publisher type Tag was matched against: Tag itself for exact
	// matching, the bridge's To tag for bridge matching, "" when Tag could not be matched (the
	// publisher lacks it and no bridge applies).
	PublisherTag identity.Tag
	// Bridged marks matching through a Bridge.
	Bridged bool
	// AdvertiserRows is the number of advertiser rows of Tag.
	AdvertiserRows int
	// BridgedRows is, for a bridged entry, the number of advertiser rows the bridge maps to at
	// least one PublisherTag identifier.
	BridgedRows int
	// PublisherIdentifiers is the number of publisher identity rows of PublisherTag (of Tag when
	// PublisherTag is "").
	PublisherIdentifiers int
	// MatchedAdvertiserRows is the number of advertiser rows that matched at least one
	// publisher identifier.
	MatchedAdvertiserRows int
	// MatchedPublisherIdentifiers is the number of publisher identity rows that matched.
	MatchedPublisherIdentifiers int
	// MatchedPublisherUsers is the number of distinct live publisher users matched through this
	// entry.
	MatchedPublisherUsers int
}

// job is the merge of one advertiser fingerprint array with one publisher tag range.
type job struct {
	stat int // index into Result.Tags
	// adv is sorted; it repeats fingerprints only for a bridged job.
	adv []identity.Fingerprint
	// rows[i] is the advertiser row of adv[i]; nil means advBase+i.
	rows    []uint32
	advBase int
	// advRows is the number of advertiser rows of the tag (the range rows index into, from
	// advBase), for the distinct-row count of a bridged job.
	advRows int
	pub     []identity.Fingerprint
	ords    []uint32
}

// task is one fingerprint range of a job.
type task struct {
	job            int
	a0, a1, p0, p1 int
}

// tasksPerWorker is how many tasks a match is split into per worker: enough that the workers
// finish close together, few enough that splitting (two binary searches a task) costs nothing.
const tasksPerWorker = 8

// Segments matches the advertiser version adv against the publisher version pub: for each of
// adv's segments, the publisher users with an identifier that a row of the segment holds. It
// matches every identifier type both hold exactly, and types only adv holds through the
// bridges in opt. Returns an error if a bridge is malformed or a version breaks an invariant
// the match relies on.
func Segments(adv *vault.AdvertiserVersion, pub *vault.PublisherVersion, opt Options) (*Result, error) {
	if adv == nil || pub == nil {
		return nil, errors.New("match: nil version")
	}
	if err := checkShapes(adv, pub); err != nil {
		return nil, err
	}
	workers := opt.Workers
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	stats, jobs, err := plan(adv, pub, opt.Bridges)
	if err != nil {
		return nil, err
	}
	nseg := len(adv.Segments)
	tasks := split(jobs, workers)
	// Sets: the segments, then one user set per job, then their union. Each pass collects up to
	// maxPassSets of them; the first pass also the job sets, the union and the diagnostics.
	sets := make([]*roaring.Bitmap, nseg+len(jobs)+1)
	var first []*worker
	for lo, firstPass := 0, true; firstPass || lo < nseg; firstPass = false {
		p := newPass(lo, nseg, len(jobs), firstPass, pub.Users)
		ws, err := p.run(adv, jobs, tasks, workers)
		if err != nil {
			return nil, err
		}
		got, err := p.finish(ws, pub.Deleted, workers)
		if err != nil {
			return nil, err
		}
		copy(sets[p.segLo:p.segHi], got)
		if p.first {
			copy(sets[nseg:], got[p.segHi-p.segLo:])
			first = ws
		}
		lo = p.segHi
	}
	ws := first
	res := &Result{
		Segments: slices.Clone(adv.Segments),
		Matched:  sets[:nseg:nseg],
		Tags:     stats,
	}
	perJob := sets[nseg : nseg+len(jobs)]
	for ji, jb := range jobs {
		s := &res.Tags[jb.stat]
		for _, wk := range ws {
			s.MatchedAdvertiserRows += wk.advMatched[ji]
			s.MatchedPublisherIdentifiers += wk.pubMatched[ji]
		}
		if jb.rows != nil {
			s.MatchedAdvertiserRows = countUnion(ws, ji)
		}
		s.MatchedPublisherUsers = int(perJob[ji].GetCardinality())
	}
	res.Any = sets[nseg+len(jobs)]
	if res.Any == nil { // no job
		res.Any = roaring.New()
	}
	return res, nil
}

// run merges the tasks on up to workers goroutines and returns their collections.
func (p *pass) run(adv *vault.AdvertiserVersion, jobs []job, tasks []task, workers int) ([]*worker, error) {
	ws := make([]*worker, max(1, min(workers, len(tasks))))
	for w := range ws {
		ws[w] = newWorker(p, jobs)
	}
	var next atomic.Int64
	err := parallel(len(ws), func(w int) error {
		for t := int(next.Add(1) - 1); t < len(tasks); t = int(next.Add(1) - 1) {
			ws[w].run(adv, jobs, tasks[t])
		}
		return nil
	})
	if err != nil {
		for _, w := range ws {
			w.release()
		}
		return nil, err
	}
	return ws, nil
}

// checkShapes checks the array lengths the match indexes by, so that a malformed version is an
// error rather than a crash. The full invariants are the versions' Validate methods.
func checkShapes(adv *vault.AdvertiserVersion, pub *vault.PublisherVersion) error {
	if len(adv.TagStart) != len(adv.Tags)+1 || len(adv.SegOff) != len(adv.FPs)+1 ||
		adv.TagStart[len(adv.Tags)] != uint32(len(adv.FPs)) || adv.SegOff[len(adv.FPs)] != uint32(len(adv.Segs)) {
		return errors.New("match: malformed advertiser version: offset arrays do not match")
	}
	if len(pub.TagStart) != len(pub.Tags)+1 || len(pub.Ords) != len(pub.FPs) ||
		pub.TagStart[len(pub.Tags)] != uint64(len(pub.FPs)) {
		return errors.New("match: malformed publisher version: offset arrays do not match")
	}
	for t := range adv.Tags {
		if adv.TagStart[t] > adv.TagStart[t+1] {
			return errors.New("match: malformed advertiser version: tag offsets decrease")
		}
	}
	for t := range pub.Tags {
		if pub.TagStart[t] > pub.TagStart[t+1] {
			return errors.New("match: malformed publisher version: tag offsets decrease")
		}
	}
	return nil
}

// plan lists the diagnostics entries and the merge jobs: one exact job per tag both sides hold,
// one bridged job per applicable bridge for advertiser tags the publisher lacks.
func plan(adv *vault.AdvertiserVersion, pub *vault.PublisherVersion, bridges []*Bridge) ([]TagStats, []job, error) {
	var stats []TagStats
	var jobs []job
	for t, tag := range adv.Tags {
		a0, a1 := int(adv.TagStart[t]), int(adv.TagStart[t+1])
		if p0, p1, ok := pub.TagRange(tag); ok {
			stats = append(stats, TagStats{Tag: tag, PublisherTag: tag, AdvertiserRows: a1 - a0, PublisherIdentifiers: p1 - p0})
			jobs = append(jobs, job{stat: len(stats) - 1, adv: adv.FPs[a0:a1], advBase: a0, advRows: a1 - a0,
				pub: pub.FPs[p0:p1], ords: pub.Ords[p0:p1]})
			continue
		}
		bridged := false
		for _, b := range bridges {
			if b == nil || b.From != tag {
				continue
			}
			p0, p1, ok := pub.TagRange(b.To)
			if !ok {
				continue
			}
			if err := b.Validate(); err != nil {
				return nil, nil, err
			}
			mapped, rows, nrows := b.mapRows(adv.FPs[a0:a1], a0)
			stats = append(stats, TagStats{Tag: tag, PublisherTag: b.To, Bridged: true, AdvertiserRows: a1 - a0,
				BridgedRows: nrows, PublisherIdentifiers: p1 - p0})
			jobs = append(jobs, job{stat: len(stats) - 1, adv: mapped, rows: rows, advBase: a0, advRows: a1 - a0,
				pub: pub.FPs[p0:p1], ords: pub.Ords[p0:p1]})
			bridged = true
		}
		if !bridged {
			stats = append(stats, TagStats{Tag: tag, AdvertiserRows: a1 - a0})
		}
	}
	for t, tag := range pub.Tags {
		if _, found := slices.BinarySearch(adv.Tags, tag); !found {
			stats = append(stats, TagStats{Tag: tag, PublisherIdentifiers: int(pub.TagStart[t+1] - pub.TagStart[t])})
		}
	}
	// Sort the entries, keeping the jobs pointing at theirs.
	order := make([]int, len(stats))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int {
		if stats[x].Tag != stats[y].Tag {
			if stats[x].Tag < stats[y].Tag {
				return -1
			}
			return 1
		}
		switch {
		case stats[x].PublisherTag < stats[y].PublisherTag:
			return -1
		case stats[x].PublisherTag > stats[y].PublisherTag:
			return 1
		}
		return 0
	})
	sorted := make([]TagStats, len(stats))
	where := make([]int, len(stats))
	for to, from := range order {
		sorted[to] = stats[from]
		where[from] = to
	}
	for i := range jobs {
		jobs[i].stat = where[jobs[i].stat]
	}
	return sorted, jobs, nil
}

// split cuts the jobs into about tasksPerWorker tasks per worker, each job in proportion to its
// rows. Split points are publisher quantiles, rounded down to the first row of their
// fingerprint and binary-searched in the advertiser array, so that equal fingerprints stay in
// one task.
func split(jobs []job, workers int) []task {
	var total int
	for _, j := range jobs {
		if len(j.adv) > 0 && len(j.pub) > 0 {
			total += len(j.adv) + len(j.pub)
		}
	}
	per := max(1, total/(tasksPerWorker*workers))
	var tasks []task
	for ji, j := range jobs {
		if len(j.adv) == 0 || len(j.pub) == 0 {
			continue
		}
		n := max(1, (len(j.adv)+len(j.pub))/per)
		a0, p0 := 0, 0
		for k := 1; k <= n; k++ {
			a1, p1 := len(j.adv), len(j.pub)
			if k < n {
				q := int(int64(len(j.pub)) * int64(k) / int64(n))
				p1 = lowerBound(j.pub[p0:], &j.pub[q]) + p0
				a1 = lowerBound(j.adv[a0:], &j.pub[q]) + a0
			}
			if a1 > a0 && p1 > p0 {
				tasks = append(tasks, task{job: ji, a0: a0, a1: a1, p0: p0, p1: p1})
			}
			a0, p0 = a1, p1
		}
	}
	return tasks
}

// parallel runs f(0..n-1) on n goroutines and returns their errors joined. A panic in f (a
// version that breaks an invariant the match trusts, such as an ordinal not below Users)
// becomes an error.
func parallel(n int, f func(w int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[w] = fmt.Errorf("match: malformed input: %v", r)
				}
			}()
			errs[w] = f(w)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
