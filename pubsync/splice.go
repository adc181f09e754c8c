package pubsync

import "runtime"

// run is a range [from, to) of a source array copied to position at of a destination array.
type run struct{ from, to, at int }

// copyRuns copies runs of src into dst on all processors, in pieces of 256Ki elements: Apply
// and Erase build a new version mostly from long runs of the old one's arrays.
func copyRuns[T any](dst, src []T, runs []run) {
	const piece = 1 << 18
	var tasks []run
	for _, r := range runs {
		for f := r.from; f < r.to; f += piece {
			tasks = append(tasks, run{f, min(f+piece, r.to), r.at + f - r.from})
		}
	}
	parallel(len(tasks), runtime.GOMAXPROCS(0), 1, func(_, i int) {
		t := tasks[i]
		copy(dst[t.at:t.at+t.to-t.from], src[t.from:t.to])
	})
}

// keepRuns returns the runs of [0, n) between the indices for which drop is true, placed one
// after the other from 0, and the total kept. drop is called for every index, in parallel.
func keepRuns(n int, drop func(i int) bool) ([]run, int) {
	const chunk = 1 << 20
	nchunks := (n + chunk - 1) / chunk
	dropped := make([][]int, nchunks)
	parallel(nchunks, runtime.GOMAXPROCS(0), 1, func(_, c int) {
		for i := c * chunk; i < min((c+1)*chunk, n); i++ {
			if drop(i) {
				dropped[c] = append(dropped[c], i)
			}
		}
	})
	var runs []run
	from, at := 0, 0
	for _, d := range dropped {
		for _, i := range d {
			if i > from {
				runs = append(runs, run{from, i, at})
				at += i - from
			}
			from = i + 1
		}
	}
	if n > from {
		runs = append(runs, run{from, n, at})
		at += n - from
	}
	return runs, at
}
