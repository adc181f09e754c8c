package match

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/cleanroom-oss/cleanroom/identity"
	"github.com/cleanroom-oss/cleanroom/vault"
)

// Bridge is an identity-bridge mapping: pairs of fingerprints saying that the identifier
// FromFPs[i] of type From and the identifier ToFPs[i] of type To belong to one person (for
// example a bridge provider's hashed email to mobile advertising ID graph, fingerprinted under
// the deployment's key). A match uses it for advertiser rows of type From when the publisher
// holds no identifiers of that type but does hold type To: advertiser ID -> bridge -> publisher
// ID.
//
// The pairs are sorted by (FromFPs[i], ToFPs[i]) without repeats (see Sort). An identifier may
// map to several identifiers and several to one.
//
// Cost: the advertiser's fingerprints of type From are merged with FromFPs (linear), and the
// mapped fingerprints, which come out in From order, are sorted by To before they are merged
// with the publisher's rows: O(m log m) comparisons for m mapped rows, single-threaded, plus 20
// bytes per mapped row. That is about 1 s per 10M mapped rows, so bridging is several times
// slower per row than exact matching.
type Bridge struct {
	// From and To are the identifier types the bridge maps from (the advertiser's) and to (the
	// publisher's).
	From, To identity.Tag
	// FromFPs and ToFPs are parallel: pair i maps FromFPs[i] to ToFPs[i].
	FromFPs, ToFPs []identity.Fingerprint
}

// BridgesOf returns the bridges of an identity bridge version, one per tag pair, sharing v's
// memory (the version keeps each pair's links sorted and unique, as Bridge requires).
func BridgesOf(v *vault.BridgeVersion) []*Bridge {
	out := make([]*Bridge, len(v.Pairs))
	for i, p := range v.Pairs {
		lo, hi := v.PairStart[i], v.PairStart[i+1]
		out[i] = &Bridge{From: p.From, To: p.To, FromFPs: v.From[lo:hi:hi], ToFPs: v.To[lo:hi:hi]}
	}
	return out
}

// Sort sorts b's pairs by (From, To) and removes repeated pairs, in place.
func (b *Bridge) Sort() {
	type pair struct{ from, to identity.Fingerprint }
	pairs := make([]pair, len(b.FromFPs))
	for i := range pairs {
		pairs[i] = pair{b.FromFPs[i], b.ToFPs[i]}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		return cmp.Or(x.from.Compare(y.from), x.to.Compare(y.to))
	})
	pairs = slices.Compact(pairs)
	b.FromFPs, b.ToFPs = b.FromFPs[:len(pairs)], b.ToFPs[:len(pairs)]
	for i, p := range pairs {
		b.FromFPs[i], b.ToFPs[i] = p.from, p.to
	}
}

// Validate checks that b names two different tags and that its pairs are parallel, sorted by
// (From, To) and unique.
func (b *Bridge) Validate() error {
	if b.From == "" || b.To == "" || b.From == b.To {
		return fmt.Errorf("match: bridge %s -> %s: the tags must be two different identifier types", b.From, b.To)
	}
	if len(b.FromFPs) != len(b.ToFPs) {
		return fmt.Errorf("match: bridge %s -> %s: %d from and %d to fingerprints", b.From, b.To, len(b.FromFPs), len(b.ToFPs))
	}
	for i := 1; i < len(b.FromFPs); i++ {
		if c := cmp.Or(b.FromFPs[i-1].Compare(b.FromFPs[i]), b.ToFPs[i-1].Compare(b.ToFPs[i])); c >= 0 {
			return fmt.Errorf("match: bridge %s -> %s: %w at pair %d", b.From, b.To, errBridgeOrder, i)
		}
	}
	return nil
}

var errBridgeOrder = errors.New("pairs not sorted and unique (call Sort)")

// mapRows maps the advertiser fingerprints adv (sorted, unique; row base+i is adv[i]) through
// b. It returns the To fingerprints they map to, sorted, with the advertiser row of each (a row
// appears once per fingerprint it maps to, a fingerprint once per row mapping to it), and the
// number of advertiser rows mapped.
func (b *Bridge) mapRows(adv []identity.Fingerprint, base int) ([]identity.Fingerprint, []uint32, int) {
	type pair struct {
		to  identity.Fingerprint
		row uint32
	}
	var pairs []pair
	m := merger{adv: adv, pub: b.FromFPs}
	buf := make([]hit, 1024)
	nrows := 0
	for n := m.next(buf); n > 0; n = m.next(buf) {
		for _, h := range buf[:n] {
			nrows++
			for _, to := range b.ToFPs[h.p : h.p+h.n] {
				pairs = append(pairs, pair{to, uint32(base + h.a)})
			}
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		return cmp.Or(x.to.Compare(y.to), cmp.Compare(x.row, y.row))
	})
	fps := make([]identity.Fingerprint, len(pairs))
	rows := make([]uint32, len(pairs))
	for i, p := range pairs {
		fps[i], rows[i] = p.to, p.row
	}
	return fps, rows, nrows
}
