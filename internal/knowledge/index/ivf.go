package index

import (
	"cmp"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
)

// IVF-flat approximate vector search.
//
// The rows of a vector set are clustered by spherical k-means, trained on a
// sample, into about √n inverted lists, each with a unit-length centroid. A
// search scores the query against the centroids and then, exactly, the rows
// of the few lists whose centroids are most similar, plus the tail of rows
// added since the build. The build sorts the set's one slab of vectors by
// list, so that a list is a contiguous run scanned sequentially; nothing is
// copied, and the index costs only the centroids and the list offsets.
//
// How many lists to probe is not guessed: the build measures it. It takes
// ivfCalibrationQueries rows as queries, finds their exact 100 nearest
// neighbours in the same pass that assigns rows to lists, and records the
// rank, among the lists ordered by centroid similarity to the query, of the
// list holding each neighbour. The smallest number of lists holding
// ivfTargetRecall of the neighbours, plus a margin, is the number to probe,
// for k = 10 and k = 100. Data with no cluster structure needs most lists
// probed (uniformly random directions in 128 dimensions need all of them);
// where the lists to probe would make up more than ivfMaxScan of the rows
// the index does not pay, is not installed, and searches stay exact.
//
// The build runs in the background, started by a search, and holds the
// index's lock only in stretches of a few milliseconds. Its cost is about
// n·(√n + 100)·dim multiply-adds for the pass plus a fifth of that for
// k-means: 26 s for 100,000 vectors of 1536 dimensions on one core.
//
// Everything is deterministic: the sample, the initial centroids and the
// calibration queries come from a generator with a fixed seed.

const (
	ivfSeed = 0x5eed1f

	// ivfSamplePerList is how many rows per list k-means trains on; the
	// centroids need a few dozen points each, not the whole set.
	ivfSamplePerList = 32
	// ivfIterations bounds the k-means iterations. The lists only need to
	// be coherent, not converged.
	ivfIterations = 8
	// ivfCalibrationQueries is how many rows serve as calibration queries.
	ivfCalibrationQueries = 100
	// ivfTargetRecall is the share of the true nearest neighbours the
	// probed lists must hold on the calibration queries. It is set above
	// the 0.95 aimed for, for the margin between calibration queries and
	// real ones.
	ivfTargetRecall = 0.97
	// ivfMaxScan is the share of the rows above which probing does not
	// pay for itself against an exact scan.
	ivfMaxScan = 0.5
	// ivfMinRows is the fewest rows worth clustering.
	ivfMinRows = 256
	// ivfCalibrationDepth is the largest k calibrated for.
	ivfCalibrationDepth = 100
	// ivfChunkWork bounds the multiply-adds of the build done per
	// acquisition of the read lock (a few milliseconds), so that writers
	// and the searches queued behind them are not held up.
	ivfChunkWork = 1 << 24
)

// ivf is an inverted-file index over rows [0, n) of a vector set, whose
// rows the build has sorted by list so that each list is a contiguous run of
// the slab and is scanned sequentially.
type ivf struct {
	centroids []float32 // nlist × dim, unit length
	offsets   []int32   // list l is rows offsets[l] to offsets[l+1]; n = offsets[nlist]
	built     int       // n at build time
	// probes10 and probes100 are the lists to probe for the target recall
	// at k = 10 and k = 100.
	probes10, probes100 int
}

// listRank is an inverted list with the similarity of its centroid to a
// query.
type listRank struct {
	score float32
	list  int32
}

func byScoreDesc(a, b listRank) int {
	if c := cmp.Compare(b.score, a.score); c != 0 {
		return c
	}
	return cmp.Compare(a.list, b.list)
}

func (iv *ivf) nlist() int { return len(iv.offsets) - 1 }

// rows returns the number of rows in the lists; rows from there on are the
// tail.
func (iv *ivf) rows() int { return int(iv.offsets[len(iv.offsets)-1]) }

// probes returns the number of lists to probe for k results: calibrated at
// k = 10 and k = 100, interpolated between.
func (iv *ivf) probes(k int) int {
	switch {
	case k <= 10:
		return iv.probes10
	case k >= ivfCalibrationDepth:
		return iv.probes100
	}
	return iv.probes10 + (iv.probes100-iv.probes10)*(k-10)/(ivfCalibrationDepth-10)
}

// search offers the rows of the probed lists and of the tail to the heap *h.
// It returns false, having done nothing, when an exact scan would be no
// dearer. The caller holds the read lock.
func (iv *ivf) search(ix *Index, vs *vectorSet, u []float32, k int, f Filter, allow bitset, buf *vectorBuf, h *[]candidate) bool {
	nlist := iv.nlist()
	p := iv.probes(k)
	frac := 1.0 // share of the rows the filter lets through
	if !f.empty() {
		// A filter passing a share of the chunks leaves about that share
		// of each list: probe proportionally more lists, so that as many
		// candidates are scored as without it. A selective filter thus
		// ends in an exact scan of the few chunks it passes.
		live := ix.live()
		if live == 0 {
			return false
		}
		frac = float64(popcount(allow)) / float64(live)
		if frac == 0 {
			return false
		}
		p = int(math.Ceil(float64(p) / frac))
	}
	n := iv.rows()
	avgList := float64(n) / float64(nlist)
	if p >= nlist || float64(nlist)+float64(p)*avgList*frac >= float64(n)*frac {
		return false
	}

	lists := buf.lists[:0]
	dim := len(u)
	for l := range nlist {
		lists = append(lists, listRank{score: dot(u, iv.centroids[l*dim:(l+1)*dim]), list: int32(l)})
	}
	slices.SortFunc(lists, byScoreDesc)
	buf.lists = lists

	hp := ix.scanRows(vs, u, n, len(vs.docs), allow, *h, k) // the tail
	for i, lr := range lists {
		// Keep probing past p while fewer than k were found, as happens
		// when the filter or deletions leave the nearest lists sparse.
		if i >= p && len(hp) >= k {
			break
		}
		hp = ix.scanRows(vs, u, int(iv.offsets[lr.list]), int(iv.offsets[lr.list+1]), allow, hp, k)
	}
	*h = hp
	return true
}

// compacted is called after a compaction has set the offsets to count only
// the rows kept. It returns the index, or nil when so many rows have gone
// that the lists no longer reflect the set.
func (iv *ivf) compacted() *ivf {
	if n := iv.rows(); n < iv.built/2 || n < ivfMinRows {
		return nil
	}
	return iv
}

func popcount(b bitset) int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// buildOptions control a build of the approximate index.
type buildOptions struct {
	workers int  // goroutines for the arithmetic
	force   bool // install the index even where it does not pay (tests)
}

// buildVectorIndex builds the approximate index of vs over its current rows
// and installs it, unless it would not pay, and reports whether it did. It
// reads the rows under the read lock in short stretches and gives up if they
// move meanwhile (compaction); rows added meanwhile simply join the tail.
func (ix *Index) buildVectorIndex(vs *vectorSet, dim int, opt buildOptions) bool {
	workers := max(1, opt.workers)

	// Copy the training sample and the calibration queries.
	ix.mu.RLock()
	if ix.vectors[dim] != vs {
		ix.mu.RUnlock()
		return false
	}
	n, epoch := len(vs.docs), vs.epoch
	r := rand.New(rand.NewPCG(ivfSeed, uint64(n)))
	var live []int32 // live rows in random order
	for _, i := range r.Perm(n) {
		if !ix.dead.has(vs.docs[i]) {
			live = append(live, int32(i))
		}
	}
	if len(live) < ivfMinRows {
		ix.mu.RUnlock()
		return false
	}
	nlist := int(math.Round(math.Sqrt(float64(len(live)))))
	m := min(len(live), ivfSamplePerList*nlist)
	sample := make([]float32, m*dim)
	for j, i := range live[:m] {
		copy(sample[j*dim:(j+1)*dim], vs.data[int(i)*dim:])
	}
	// Calibration queries: rows outside the sample where there are enough.
	nq := min(ivfCalibrationQueries, len(live)/2)
	qrows := make([]int32, nq)
	targets := make([]float32, (nlist+nq)*dim) // centroids, then queries
	queries := targets[nlist*dim:]
	for j := range nq {
		i := live[(m+j)%len(live)]
		qrows[j] = i
		copy(queries[j*dim:(j+1)*dim], vs.data[int(i)*dim:])
	}
	ix.mu.RUnlock()

	copy(targets, sphericalKMeans(sample, dim, nlist, r, workers))
	sample = nil

	// Assign every row to its list and find the calibration queries'
	// exact nearest neighbours, in one pass.
	assign := make([]int32, n)
	nearest := make([][]rowHeap, workers) // by worker, by query
	for w := range nearest {
		nearest[w] = make([]rowHeap, nq)
	}
	chunk := workers * max(2, ivfChunkWork/(dim*(nlist+nq)))
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk)
		ix.mu.RLock()
		if ix.vectors[dim] != vs || vs.epoch != epoch {
			ix.mu.RUnlock()
			return false
		}
		data, docs := vs.data, vs.docs
		parallel(workers, hi-lo, func(w, a, b int) {
			s0 := make([]float32, nlist+nq)
			s1 := make([]float32, nlist+nq)
			record := func(row int, s []float32) {
				assign[row] = argmax(s[:nlist])
				if ix.dead.has(docs[row]) {
					return
				}
				for q, score := range s[nlist:] {
					if int32(row) != qrows[q] {
						nearest[w][q].push(rowScore{score: score, row: int32(row)}, ivfCalibrationDepth)
					}
				}
			}
			i := lo + a
			for ; i+2 <= lo+b; i += 2 {
				scores2(targets, data[i*dim:(i+1)*dim], data[(i+1)*dim:(i+2)*dim], s0, s1)
				record(i, s0)
				record(i+1, s1)
			}
			if i < lo+b {
				row := data[i*dim : (i+1)*dim]
				for t := range s0 {
					s0[t] = dot(row, targets[t*dim:])
				}
				record(i, s0)
			}
		})
		ix.mu.RUnlock()
	}

	iv := &ivf{centroids: targets[: nlist*dim : nlist*dim], built: n}
	iv.probes10, iv.probes100 = calibrate(targets, dim, nlist, nq, nearest, assign)
	nearest = nil

	// Where each row goes: the lists in order, rows in their order within
	// a list.
	iv.offsets = make([]int32, nlist+1)
	for _, l := range assign {
		iv.offsets[l+1]++
	}
	for l := range nlist {
		iv.offsets[l+1] += iv.offsets[l]
	}
	dest := make([]int32, n)
	next := slices.Clone(iv.offsets[:nlist])
	for row, l := range assign {
		dest[row] = next[l]
		next[l]++
	}
	assign = nil

	pays := float64(nlist)+float64(iv.probes100)*float64(n)/float64(nlist) <= ivfMaxScan*float64(n)
	if !pays && !opt.force {
		ix.mu.Lock()
		defer ix.mu.Unlock()
		if ix.vectors[dim] == vs && vs.epoch == epoch {
			vs.ivf = nil
			vs.retryAt = 2 * n
		}
		return false
	}
	return ix.installVectorIndex(vs, dim, epoch, iv, dest)
}

// installVectorIndex moves every row i < len(dest) of vs to dest[i] and
// installs iv. Each step swaps two rows with their documents, so the set is
// whole after every one: the work is done in stretches under the write lock,
// letting searches (exact meanwhile) run in between. It gives up, leaving the
// set without an index, if a compaction or another build intervenes.
func (ix *Index) installVectorIndex(vs *vectorSet, dim int, epoch uint64, iv *ivf, dest []int32) bool {
	perHold := max(16, ivfChunkWork/16/dim) // swaps per hold, a few milliseconds
	tmp := make([]float32, dim)
	i := 0
	started := false
	for {
		ix.mu.Lock()
		if ix.vectors[dim] != vs || vs.epoch != epoch {
			ix.mu.Unlock()
			return false
		}
		if !started {
			// Rows start moving: a concurrent build must start over.
			vs.epoch++
			epoch = vs.epoch
			started = true
		}
		vs.ivf = nil // its lists are being taken apart
		data, docs := vs.data, vs.docs
		for swaps := 0; i < len(dest) && swaps < perHold; {
			j := int(dest[i])
			if j == i {
				i++
				continue
			}
			// Row i goes to j; the row at j comes here and is placed next.
			a, b := data[i*dim:(i+1)*dim], data[j*dim:(j+1)*dim]
			copy(tmp, a)
			copy(a, b)
			copy(b, tmp)
			docs[i], docs[j] = docs[j], docs[i]
			dest[i], dest[j] = dest[j], int32(j)
			swaps++
		}
		if i == len(dest) {
			vs.ivf = iv
			ix.mu.Unlock()
			return true
		}
		ix.mu.Unlock()
	}
}

// calibrate returns the lists to probe for ivfTargetRecall of the nearest 10
// and 100 neighbours of the calibration queries (targets after the nlist
// centroids), given each worker's nearest rows of each query and the list
// of every row.
func calibrate(targets []float32, dim, nlist, nq int, nearest [][]rowHeap, assign []int32) (p10, p100 int) {
	hist10 := make([]int, nlist) // neighbours by the rank of their list
	hist100 := make([]int, nlist)
	rank := make([]int32, nlist)
	lists := make([]listRank, nlist)
	var all []rowScore
	for q := range nq {
		query := targets[(nlist+q)*dim : (nlist+q+1)*dim]
		for l := range lists {
			lists[l] = listRank{score: dot(query, targets[l*dim:(l+1)*dim]), list: int32(l)}
		}
		slices.SortFunc(lists, byScoreDesc)
		for i, lr := range lists {
			rank[lr.list] = int32(i)
		}
		all = all[:0]
		for w := range nearest {
			all = append(all, nearest[w][q]...)
		}
		slices.SortFunc(all, func(a, b rowScore) int { return -a.compare(b) })
		for j, rs := range all[:min(len(all), ivfCalibrationDepth)] {
			rk := rank[assign[rs.row]]
			if j < 10 {
				hist10[rk]++
			}
			hist100[rk]++
		}
	}
	return probesFor(hist10), probesFor(hist100)
}

// probesFor returns how many of the best-ranked lists hold ivfTargetRecall
// of the neighbours counted in hist, plus a quarter (at least one) for the
// error of an estimate from a hundred queries: on test data the recall of
// real queries came out up to two points below the calibrated one.
func probesFor(hist []int) int {
	total := 0
	for _, c := range hist {
		total += c
	}
	need := int(math.Ceil(ivfTargetRecall * float64(total)))
	sum := 0
	for i, c := range hist {
		sum += c
		if sum >= need {
			p := i + 1
			return min(len(hist), p+p/4+1)
		}
	}
	return len(hist)
}

// sphericalKMeans clusters the unit rows of x into k unit centroids by
// cosine similarity, starting from k distinct random rows. A cluster left
// empty is restarted at the row worst served by its centroid.
func sphericalKMeans(x []float32, dim, k int, r *rand.Rand, workers int) []float32 {
	m := len(x) / dim
	cent := make([]float32, k*dim)
	for c, i := range r.Perm(m)[:k] {
		copy(cent[c*dim:(c+1)*dim], x[i*dim:(i+1)*dim])
	}
	assign := make([]int32, m)
	for i := range assign {
		assign[i] = -1
	}
	score := make([]float32, m)
	counts := make([]int, k)
	sums := make([]float32, k*dim)
	for range ivfIterations {
		changed := make([]int, workers) // assignments changed, by worker
		parallel(workers, m, func(w, a, b int) {
			s0 := make([]float32, k)
			s1 := make([]float32, k)
			set := func(i int, s []float32) {
				best := argmax(s)
				if best != assign[i] {
					assign[i] = best
					changed[w]++
				}
				score[i] = s[best]
			}
			i := a
			for ; i+2 <= b; i += 2 {
				scores2(cent, x[i*dim:(i+1)*dim], x[(i+1)*dim:(i+2)*dim], s0, s1)
				set(i, s0)
				set(i+1, s1)
			}
			if i < b {
				for c := range s0 {
					s0[c] = dot(x[i*dim:(i+1)*dim], cent[c*dim:])
				}
				set(i, s0)
			}
		})
		moved := 0
		for _, c := range changed {
			moved += c
		}
		if moved == 0 {
			break
		}

		clear(sums)
		clear(counts)
		for i, c := range assign {
			counts[c]++
			sum := sums[int(c)*dim : (int(c)+1)*dim]
			for j, v := range x[i*dim : (i+1)*dim] {
				sum[j] += v
			}
		}
		var worst []int // rows by ascending similarity to their centroid
		for c := range k {
			sum := sums[c*dim : (c+1)*dim]
			if counts[c] == 0 || !normalizeInto(cent[c*dim:(c+1)*dim], sum) {
				if worst == nil {
					worst = make([]int, m)
					for i := range worst {
						worst[i] = i
					}
					slices.SortStableFunc(worst, func(a, b int) int { return cmp.Compare(score[a], score[b]) })
				}
				i := worst[0]
				worst = worst[1:]
				copy(cent[c*dim:(c+1)*dim], x[i*dim:(i+1)*dim])
			}
		}
	}
	return cent
}

// scores2 sets s0[t] and s1[t] to the dot products of rows a and b with
// target t of targets. Scoring two rows per pass over the targets halves the
// loads of target values, the bottleneck once the targets sit in cache.
func scores2(targets, a, b, s0, s1 []float32) {
	dim := len(a)
	b = b[:dim]
	for t := range s0 {
		c := targets[t*dim : (t+1)*dim]
		var x0, x1, y0, y1 float32
		j := 0
		for ; j+4 <= dim; j += 4 {
			cc := c[j : j+4 : j+4]
			aa := a[j : j+4 : j+4]
			bb := b[j : j+4 : j+4]
			x0 += cc[0]*aa[0] + cc[2]*aa[2]
			x1 += cc[1]*aa[1] + cc[3]*aa[3]
			y0 += cc[0]*bb[0] + cc[2]*bb[2]
			y1 += cc[1]*bb[1] + cc[3]*bb[3]
		}
		for ; j < dim; j++ {
			x0 += c[j] * a[j]
			y0 += c[j] * b[j]
		}
		s0[t], s1[t] = x0+x1, y0+y1
	}
}

// argmax returns the index of the largest of s, the first on ties.
func argmax(s []float32) int32 {
	best := 0
	for i, v := range s {
		if v > s[best] {
			best = i
		}
	}
	return int32(best)
}

// parallel runs f over [0, n) split into contiguous ranges, one per worker
// and at least two items each, and waits for them.
func parallel(workers, n int, f func(w, lo, hi int)) {
	workers = min(workers, max(1, n/2))
	if workers <= 1 {
		f(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		wg.Go(func() { f(w, lo, hi) })
	}
	wg.Wait()
}

// rowScore is a row with its similarity to a query.
type rowScore struct {
	score float32
	row   int32
}

// compare orders by score, then by row number reversed, so that ties
// resolve the same however the rows were split among workers.
func (a rowScore) compare(b rowScore) int {
	if c := cmp.Compare(a.score, b.score); c != 0 {
		return c
	}
	return cmp.Compare(b.row, a.row)
}

// rowHeap keeps the best rows offered to it, worst at the root.
type rowHeap []rowScore

func (h *rowHeap) push(x rowScore, k int) {
	s := *h
	if len(s) < k {
		s = append(s, x)
		for i := len(s) - 1; i > 0; {
			p := (i - 1) / 2
			if s[i].compare(s[p]) >= 0 {
				break
			}
			s[i], s[p] = s[p], s[i]
			i = p
		}
		*h = s
		return
	}
	if x.compare(s[0]) <= 0 {
		return
	}
	s[0] = x
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].compare(s[m]) < 0 {
			m = l
		}
		if r < len(s) && s[r].compare(s[m]) < 0 {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}
