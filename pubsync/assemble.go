package pubsync

import (
	"context"
	"fmt"
	"math/bits"
	"slices"
	"strconv"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// dropped marks a pre-ordinal whose row was a duplicate user.
const dropped = ^uint32(0)

// dupPair is a duplicate user: pre-ordinal p repeats the user ID of the earlier kept.
type dupPair struct{ p, kept uint32 }

// assemble builds the version from the committed blocks: the user index (finding duplicate
// users), the ordinals, the countries, the cohort bitmaps and the identity index.
func (s *syncer) assemble(ctx context.Context) (*vault.PublisherVersion, error) {
	W := s.cfg.Workers
	rep := s.report
	n := s.preUsers

	// 1. User index: gather each bucket of user hashes from the blocks, sort it, find
	// duplicates.
	ustart := make([]uint64, numBuckets+1)
	for _, b := range s.blocks {
		for k := range numBuckets {
			ustart[k+1] += uint64(b.uoff[k+1] - b.uoff[k])
		}
	}
	for k := range numBuckets {
		ustart[k+1] += ustart[k]
	}
	// Keys and pre-ordinals go straight to their slots in the version's arrays (a slot per
	// user of the file); duplicates leave gaps, closed below.
	keys := vault.MakeLarge[uint64](int(n))
	pords := vault.MakeLarge[uint32](int(n))
	uscratch := make([][2][]urec, W)
	cnts := make([]counts, W)
	dups := make([][]dupPair, W)
	uniq := make([]uint64, numBuckets)
	parallel(numBuckets, W, 16, func(w, k int) {
		size := int(ustart[k+1] - ustart[k])
		sc := &uscratch[w]
		if cap(sc[0]) < size {
			sc[0] = make([]urec, size+size/4)
			sc[1] = make([]urec, size+size/4)
		}
		a := sc[0][:0]
		for _, b := range s.blocks {
			for _, r := range b.userRecs[b.uoff[k]:b.uoff[k+1]] {
				a = append(a, urec{r.h0, r.h1, b.base + r.p})
			}
		}
		sortURecs(a, sc[1], &cnts[w])
		out, run := ustart[k], 0
		for i := range a {
			if i > 0 && a[i].hash() == a[i-1].hash() {
				// Sorted by (hash, pre-ordinal): the first of a run is the earliest line.
				dups[w] = append(dups[w], dupPair{a[i].p, a[run].p})
				continue
			}
			run = i
			keys[out], pords[out] = a[i].hash(), a[i].p
			out++
		}
		uniq[k] = out - ustart[k]
	})
	for _, b := range s.blocks {
		b.userRecs, b.uoff = nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	uscratch = nil
	var dup []dupPair
	for _, d := range dups {
		dup = append(dup, d...)
	}
	slices.SortFunc(dup, func(a, b dupPair) int { return int(int64(a.p) - int64(b.p)) })
	users := n - uint64(len(dup))
	var remap []uint32
	if len(dup) > 0 {
		remap = make([]uint32, n)
		j := 0
		for p := range remap {
			if j < len(dup) && dup[j].p == uint32(p) {
				remap[p] = dropped
				j++
				continue
			}
			remap[p] = uint32(p - j)
		}
	}
	ordOf := func(p uint32) uint32 {
		if remap == nil {
			return p
		}
		return remap[p]
	}

	// Duplicate users are rejected rows; list them with the other errors.
	if len(dup) > 0 {
		var errs []RowError
		for _, d := range dup[:min(len(dup), maxListedErrors)] {
			errs = append(errs, RowError{Line: s.lineOf(d.p), Reason: ReasonDuplicateUser,
				Message: "the user ID was already given on line " + strconv.FormatInt(s.lineOf(d.kept), 10) + "; this row is ignored",
				Hint:    "Give each user one row, with all of its identifiers and cohorts."})
		}
		s.errs.first = mergeErrors(s.errs.first, errs)
		s.errs.rejected[ReasonDuplicateUser] += int64(len(dup))
		rep.RejectedRows += int64(len(dup))
		rep.RowsWithErrors += int64(len(dup))
	}
	rep.RowsWithErrors = min(rep.RowsWithErrors, rep.Rows)
	rep.Errors = s.errs.first
	if rep.Errors == nil {
		rep.Errors = []RowError{}
	}
	rep.Rejected = s.errs.rejected
	if rep.Rejected == nil {
		rep.Rejected = map[string]int64{}
	}
	rep.Tags = make([]identity.Tag, len(s.accepted))
	for i, t := range s.accepted {
		rep.Tags[i] = s.cfg.regTags[t]
	}
	rep.Users = int64(users)
	if rep.Rows > 0 && float64(rep.RowsWithErrors) > s.cfg.MaxErrorRate*float64(rep.Rows) {
		return nil, cleanroom.Errorf(cleanroom.EINVALID, "%d of %d rows (%.1f%%) have errors; the upload's max_error_rate allows %.1f%%, so nothing was imported.",
			rep.RowsWithErrors, rep.Rows, 100*float64(rep.RowsWithErrors)/float64(rep.Rows), 100*s.cfg.MaxErrorRate).
			With("max_error_rate", s.cfg.MaxErrorRate).Hint(cleanroom.ErrorRateHint)
	}

	v := &vault.PublisherVersion{
		Users:               uint32(users),
		FingerprintKeyCheck: fingerprintKeyCheck(s.cfg.fp),
		UserKeyCheck:        s.cfg.users.Check(),
		Cohorts:             s.tax.Cohorts(),
	}

	// 2. User keys and ordinals: close the gaps of duplicates and renumber.
	if remap != nil {
		at := uint64(0)
		for k := range numBuckets {
			for i := ustart[k]; i < ustart[k]+uniq[k]; i++ {
				keys[at], pords[at] = keys[i], remap[pords[i]]
				at++
			}
		}
		keys, pords = keys[:at:at], pords[:at:at]
	}
	v.UserKeys, v.UserOrds = keys, pords

	// 3. Countries.
	v.Country = vault.MakeLarge[uint16](int(users))
	counts := make([][26 * 26]int64, W)
	unknown := make([]int64, W)
	parallel(len(s.blocks), W, 1, func(w, i int) {
		b := s.blocks[i]
		for u, c := range b.country {
			o := ordOf(b.base + uint32(u))
			if o == dropped {
				continue
			}
			v.Country[o] = c
			if c == 0 {
				unknown[w]++
			} else {
				counts[w][int(c>>8-'A')*26+int(c&0xff-'A')]++
			}
		}
		b.country = nil
	})
	rep.Countries = map[string]int64{}
	for w := range counts {
		if unknown[w] > 0 {
			rep.Countries[""] += unknown[w]
		}
		for i, c := range counts[w] {
			if c > 0 {
				rep.Countries[string([]byte{byte('A' + i/26), byte('A' + i%26)})] += c
			}
		}
	}

	// 4. Cohort bitmaps: renumber if rows were dropped.
	if remap != nil {
		parallel(len(s.members), W, 1, func(_, c int) {
			s.members[c] = remapBitmap(s.members[c], remap)
		})
	}
	v.Members = s.members
	s.assembleAttributes(v, remap)
	rep.Cohorts = make(map[string]int64, len(v.Cohorts))
	for i, c := range v.Cohorts {
		rep.Cohorts[c.ID] = int64(v.Members[i].GetCardinality())
	}
	v.Deleted = roaring.New()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// 5. Identity index.
	s.progress("index")
	s.buildIndex(v, ordOf)
	s.blocks = nil
	rep.Identifiers = make(map[identity.Tag]int64, len(v.Tags))
	for i, t := range v.Tags {
		rep.Identifiers[t] = int64(v.TagStart[i+1] - v.TagStart[i])
	}
	rep.UsersWithoutIdentifiers = int64(v.Users) - int64(distinctOrdinals(v.Ords, v.Users, W))
	return v, nil
}

// remapBitmap returns b with every pre-ordinal replaced by its ordinal, dropping duplicates.
func remapBitmap(b *roaring.Bitmap, remap []uint32) *roaring.Bitmap {
	out := roaring.New()
	buf := make([]uint32, 0, 4096)
	it := b.ManyIterator()
	in := make([]uint32, 4096)
	for m := it.NextMany(in); m > 0; m = it.NextMany(in) {
		buf = buf[:0]
		for _, p := range in[:m] {
			if o := remap[p]; o != dropped {
				buf = append(buf, o)
			}
		}
		out.AddMany(buf)
	}
	return out
}

// mergeErrors merges two lists sorted by line and keeps the first maxListedErrors.
func mergeErrors(a, b []RowError) []RowError {
	out := make([]RowError, 0, min(len(a)+len(b), maxListedErrors))
	for len(out) < maxListedErrors && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || len(a) > 0 && a[0].Line <= b[0].Line {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return out
}

// tagRun is one block's rows of one tag.
type tagRun struct {
	recs []rec
	off  []uint32
	base uint32
}

// buildIndex gathers each (tag, bucket) from all blocks, maps local users to ordinals, sorts the
// bucket, removes repeated pairs and writes it into v.FPs and v.Ords, in parallel over buckets.
func (s *syncer) buildIndex(v *vault.PublisherVersion, ordOf func(uint32) uint32) {
	W := s.cfg.Workers
	tags := s.tagsByName()
	nt := len(tags)
	runs := make([][]tagRun, nt)
	pos := make([]int, len(s.cfg.regTags))
	for i, t := range tags {
		pos[t] = i
	}
	for _, b := range s.blocks {
		for _, bt := range b.tags {
			i := pos[bt.tag]
			runs[i] = append(runs[i], tagRun{recs: bt.recs, off: bt.off, base: b.base})
		}
	}
	// Slots: the rows of (tag i, bucket k) before repeats are removed.
	slot := make([]uint64, nt*numBuckets+1)
	for i := range nt {
		for _, r := range runs[i] {
			for k := range numBuckets {
				slot[i*numBuckets+k+1] += uint64(r.off[k+1] - r.off[k])
			}
		}
	}
	for j := range nt * numBuckets {
		slot[j+1] += slot[j]
	}
	total := slot[nt*numBuckets]
	fps := vault.MakeLarge[identity.Fingerprint](int(total))
	ords := vault.MakeLarge[uint32](int(total))
	written := make([]uint64, nt*numBuckets)
	scratch := make([][2][]rec, W)
	cnts := make([]counts, W)
	parallel(nt*numBuckets, W, 8, func(w, j int) {
		i, k := j/numBuckets, j%numBuckets
		size := int(slot[j+1] - slot[j])
		if size == 0 {
			return
		}
		sc := &scratch[w]
		if cap(sc[0]) < size {
			sc[0] = make([]rec, size+size/4)
			sc[1] = make([]rec, size+size/4)
		}
		a := sc[0][:0]
		for _, r := range runs[i] {
			for _, x := range r.recs[r.off[k]:r.off[k+1]] {
				o := ordOf(r.base + x.ord)
				if o == dropped {
					continue
				}
				a = append(a, rec{fp: x.fp, ord: o})
			}
		}
		sortRecs(a, sc[1], &cnts[w])
		out := slot[j]
		for m := range a {
			if m > 0 && a[m] == a[m-1] {
				continue
			}
			fps[out] = a[m].fp
			ords[out] = a[m].ord
			out++
		}
		written[j] = out - slot[j]
	})
	// Close the gaps left by removed repeats (rare: only repeated pairs and duplicate users).
	at := uint64(0)
	v.TagStart = make([]uint64, nt+1)
	for i := range nt {
		for k := range numBuckets {
			j := i*numBuckets + k
			if at != slot[j] {
				copy(fps[at:], fps[slot[j]:slot[j]+written[j]])
				copy(ords[at:], ords[slot[j]:slot[j]+written[j]])
			}
			at += written[j]
		}
		v.TagStart[i+1] = at
	}
	v.FPs, v.Ords = fps[:at:at], ords[:at:at]
	v.Tags = make([]identity.Tag, nt)
	for i, t := range tags {
		v.Tags[i] = s.cfg.regTags[t]
	}
}

// String summarises the report for logs: counts only.
func (r *Report) String() string {
	return fmt.Sprintf("%d rows, %d users, %d rows with errors, %d rejected, %v", r.Rows, r.Users, r.RowsWithErrors, r.RejectedRows, r.Duration)
}

// distinctOrdinals returns the number of distinct values in ords, all below users, counting them
// in a bitset per goroutine.
func distinctOrdinals(ords []uint32, users uint32, workers int) int {
	const chunk = 1 << 20
	n := (len(ords) + chunk - 1) / chunk
	sets := make([][]uint64, workers)
	parallel(n, workers, 1, func(w, c int) {
		if sets[w] == nil {
			sets[w] = make([]uint64, (uint64(users)+63)/64)
		}
		set := sets[w]
		for _, o := range ords[c*chunk : min((c+1)*chunk, len(ords))] {
			set[o>>6] |= 1 << (o & 63)
		}
	})
	total := 0
	var all []uint64
	for _, set := range sets {
		if set == nil {
			continue
		}
		if all == nil {
			all = set
			continue
		}
		for i, x := range set {
			all[i] |= x
		}
	}
	for _, x := range all {
		total += bits.OnesCount64(x)
	}
	return total
}
