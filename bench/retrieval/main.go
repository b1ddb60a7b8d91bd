// Command retrieval benchmarks knowledge retrieval end to end: answer
// quality on the SciFact BEIR collection (nDCG@10, Recall@100) and search
// latency at scale, each beside the database's own full-text ranking
// measured in the same run, on the same data, in the same database.
//
// Every document goes through the real ingest path: knowledge.Service.Create
// stores it and queues a River ingest job in one transaction; the ingest
// worker extracts, chunks and stores the chunks; the first search of a
// tenant loads its in-memory index from the stored chunks. Queries go
// through knowledge.Service.Search, the same call as the HTTP API.
//
// The baseline is the database's built-in ranking over the same texts: an
// FTS5 table ranked by bm25() on SQLite, a tsvector column with a GIN index
// ranked by ts_rank_cd() on PostgreSQL, each queried with the OR of the
// query's words.
//
// Usage (see README.md):
//
//	go run ./bench/retrieval [-data /work/shared/data/scifact] [-dialect sqlite|postgres|both] [-chunks 100000] [-queries 300]
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the schema set-up
	"github.com/riverqueue/river"

	"github.com/metachat/metachat/bench/internal/benchkit"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/realtime"
	"github.com/metachat/metachat/internal/store"
)

// Published BM25 figures for SciFact (BEIR, Thakur et al. 2021).
const (
	refNDCG10    = 0.665
	refRecall100 = 0.908
	// targetP95 is the latency goal at -chunks chunks.
	targetP95 = 50 * time.Millisecond
)

const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

type options struct {
	data         string
	dialect      string
	pgURL        string
	chunks       int
	queries      int
	searches     int
	parallel     int
	paraWords    int
	baseSearches int
	baseBudget   time.Duration
	timeout      time.Duration
	keep         bool
	slow         time.Duration
}

func main() {
	var o options
	pg := os.Getenv("METACHAT_BENCH_POSTGRES")
	if pg == "" {
		pg = defaultPostgresURL
	}
	flag.StringVar(&o.data, "data", "/work/shared/data/scifact", "the SciFact BEIR directory (corpus.jsonl, queries.jsonl, qrels/test.tsv); read in place")
	flag.StringVar(&o.dialect, "dialect", "both", "database: sqlite (a temporary file), postgres (a fresh schema, dropped at the end) or both")
	flag.StringVar(&o.pgURL, "pg-url", pg, "PostgreSQL server (default $METACHAT_BENCH_POSTGRES or "+defaultPostgresURL+")")
	flag.IntVar(&o.chunks, "chunks", 100000, "chunks of synthetic documents for the latency-at-scale phase (0 skips it)")
	flag.IntVar(&o.queries, "queries", 300, "SciFact test queries to use (those with judgements, in id order)")
	flag.IntVar(&o.searches, "searches", 1000, "searches at scale: the queries are repeated to at least this many")
	flag.IntVar(&o.parallel, "parallel", 4, "goroutines calling knowledge.Create during ingest")
	flag.IntVar(&o.paraWords, "paragraph-words", 140, "about how many words each synthetic paragraph has")
	flag.IntVar(&o.baseSearches, "baseline-searches", 300, "built-in full-text queries timed at scale (bounded by -baseline-budget)")
	flag.DurationVar(&o.baseBudget, "baseline-budget", 60*time.Second, "time limit for the built-in full-text queries at scale")
	flag.DurationVar(&o.timeout, "timeout", 40*time.Minute, "hard limit on the whole run; the bench cleans up and exits when reached")
	flag.DurationVar(&o.slow, "slow", 0, "print every search slower than this (0: off), to find outliers")
	flag.BoolVar(&o.keep, "keep", false, "keep the SQLite files and the PostgreSQL schema")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %v", flag.Args())
	}
	var dialects []store.Dialect
	switch o.dialect {
	case "sqlite":
		dialects = []store.Dialect{store.SQLite}
	case "postgres":
		dialects = []store.Dialect{store.Postgres}
	case "both":
		dialects = []store.Dialect{store.SQLite, store.Postgres}
	default:
		fatalf("-dialect must be sqlite, postgres or both")
	}
	if o.chunks < 0 || o.queries < 1 || o.searches < 1 || o.parallel < 1 || o.paraWords < 10 || o.baseSearches < 1 {
		fatalf("-chunks must not be negative; -queries, -searches, -parallel, -baseline-searches must be positive; -paragraph-words at least 10")
	}
	os.Exit(run(o, dialects))
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "retrieval bench: "+format+"\n", args...)
	os.Exit(2)
}

func run(o options, dialects []store.Dialect) int {
	started := time.Now()
	cl := &benchkit.Cleanup{}
	defer cl.Run()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchdog := time.AfterFunc(o.timeout, func() {
		fmt.Fprintf(os.Stderr, "retrieval bench: time limit %s reached: cleaning up and stopping\n", o.timeout)
		cancel()
		cl.Run()
		os.Exit(2)
	})
	defer watchdog.Stop()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		fmt.Fprintf(os.Stderr, "retrieval bench: %s: cleaning up\n", s)
		cancel()
		cl.Run()
		os.Exit(130)
	}()

	ds, err := loadDataset(o.data, o.queries)
	if err != nil {
		fmt.Fprintln(os.Stderr, "retrieval bench:", err)
		return 1
	}
	benchkit.Progress("SciFact: %d documents, %d test queries with %d judgements, %d sentences for synthetic text",
		len(ds.docs), len(ds.queries), ds.judgements, len(ds.sentences))
	fmt.Printf("retrieval bench: SciFact (%s), %d documents, %d queries; GOMAXPROCS %d, %s/%s, %s\n",
		o.data, len(ds.docs), len(ds.queries), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())

	var results []*result
	failed := false
	for _, d := range dialects {
		fmt.Printf("\n=== %s ===\n", d)
		res, err := runDialect(ctx, o, d, ds, cl)
		if err != nil {
			fmt.Fprintf(os.Stderr, "retrieval bench: %s: %v\n", d, err)
			fmt.Printf("%s: FAILED: %v\n", d, err)
			failed = true
		}
		if res != nil {
			results = append(results, res)
		}
	}
	printSummary(o, results)
	fmt.Printf("\nwhole run: %s\n", time.Since(started).Round(time.Second))
	if failed {
		return 1
	}
	return 0
}

// ---------------------------------------------------------------------------
// The data set

type corpusDoc struct {
	ID    string `json:"_id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

type query struct {
	ID   string `json:"_id"`
	Text string `json:"text"`
}

type dataset struct {
	docs       []corpusDoc
	queries    []query
	qrels      map[string]map[string]int // query id → corpus id → grade
	judgements int
	sentences  []string // corpus sentences for synthetic documents
	sentWords  []int
}

func loadDataset(dir string, maxQueries int) (*dataset, error) {
	ds := &dataset{qrels: map[string]map[string]int{}}
	if err := readJSONL(filepath.Join(dir, "corpus.jsonl"), func(b []byte) error {
		var d corpusDoc
		if err := json.Unmarshal(b, &d); err != nil {
			return err
		}
		ds.docs = append(ds.docs, d)
		return nil
	}); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, "qrels", "test.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		fields := strings.Split(strings.TrimSpace(sc.Text()), "\t")
		if line == 0 || len(fields) < 3 {
			continue // header
		}
		grade, err := strconv.Atoi(fields[2])
		if err != nil {
			return nil, fmt.Errorf("qrels line %d: %w", line+1, err)
		}
		if ds.qrels[fields[0]] == nil {
			ds.qrels[fields[0]] = map[string]int{}
		}
		ds.qrels[fields[0]][fields[1]] = grade
		ds.judgements++
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := readJSONL(filepath.Join(dir, "queries.jsonl"), func(b []byte) error {
		var q query
		if err := json.Unmarshal(b, &q); err != nil {
			return err
		}
		if ds.qrels[q.ID] != nil {
			ds.queries = append(ds.queries, q)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(ds.queries, func(a, b query) int {
		x, errA := strconv.Atoi(a.ID)
		y, errB := strconv.Atoi(b.ID)
		if errA == nil && errB == nil {
			return x - y
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(ds.queries) > maxQueries {
		ds.queries = ds.queries[:maxQueries]
	}
	if len(ds.docs) == 0 || len(ds.queries) == 0 {
		return nil, fmt.Errorf("%s: no documents or no judged queries", dir)
	}
	for _, d := range ds.docs {
		for _, s := range sentences(d.Text) {
			ds.sentences = append(ds.sentences, s)
			ds.sentWords = append(ds.sentWords, len(strings.Fields(s)))
		}
	}
	return ds, nil
}

func readJSONL(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
	return sc.Err()
}

// sentences splits an abstract into sentences that read as plain prose: a
// sentence ends at '.', '?' or '!' before a word starting with a capital;
// kept are those of 5–60 words starting with a capital letter (no list
// markers or headings when they open a Markdown paragraph).
func sentences(text string) []string {
	words := strings.Fields(text)
	var out []string
	start := 0
	for i, w := range words {
		end := i == len(words)-1
		if !end && strings.ContainsAny(w[len(w)-1:], ".?!") {
			r := []rune(words[i+1])
			end = unicode.IsUpper(r[0])
		}
		if !end {
			continue
		}
		s := words[start : i+1]
		start = i + 1
		if len(s) < 5 || len(s) > 60 {
			continue
		}
		if r := []rune(s[0]); !unicode.IsUpper(r[0]) {
			continue
		}
		out = append(out, strings.Join(s, " "))
	}
	return out
}

// words lowercases a query and keeps its runs of letters and digits, each
// once, for the built-in full-text queries.
func words(q string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// One dialect

type latency struct {
	n             int
	p50, p95, p99 time.Duration
}

func summarise(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	at := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(d)))) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return latency{n: len(d), p50: at(.50), p95: at(.95), p99: at(.99)}
}

type quality struct{ ndcg10, recall100 float64 }

type result struct {
	dialect store.Dialect
	// SciFact
	docs, chunks   int
	ingest         time.Duration
	ours, builtin  quality
	cold           time.Duration // first SciFact search (index load)
	oursLat        latency
	builtinLat     latency
	builtinLoad    time.Duration
	ourDocsPerList float64 // distinct documents in the 100 chunks returned
	// at scale
	scale *scaleResult
}

type scaleResult struct {
	docs, chunks    int
	paraWords       float64
	ingest          time.Duration
	cold            time.Duration
	lat             latency
	heapInuse       uint64
	heapDelta       int64
	builtinLoad     time.Duration
	builtinCold     time.Duration
	builtinLat      latency
	builtinTimedOut bool
}

// bench is one dialect's fresh database and knowledge service.
type bench struct {
	o   options
	st  *store.Store
	kb  *knowledge.Service
	log *slog.Logger
	// ftsDB runs the built-in full-text queries: on SQLite a read-only
	// pool of its own on the same file (as the store's searches read
	// through its read pool, beside the job queue's writer); on
	// PostgreSQL the schema owner's connection.
	ftsDB *sql.DB
}

func runDialect(ctx context.Context, o options, d store.Dialect, ds *dataset, cl *benchkit.Cleanup) (*result, error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var st *store.Store
	var ftsDB *sql.DB
	var err error
	switch d {
	case store.SQLite:
		dir, err := os.MkdirTemp("", "metachat-retrievalbench-")
		if err != nil {
			return nil, err
		}
		if o.keep {
			benchkit.Progress("keeping %s", dir)
		} else {
			cl.Add(func() { os.RemoveAll(dir) })
		}
		path := filepath.Join(dir, "metachat.db")
		st, err = store.OpenSQLite(ctx, path)
		if err != nil {
			return nil, err
		}
		ftsDB, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
		if err != nil {
			st.Close()
			return nil, err
		}
		ftsDB.SetMaxOpenConns(2)
		cl.Add(func() { ftsDB.Close() })
	case store.Postgres:
		u, drop, err := createSchema(o.pgURL, "retrievalbench_", o.keep)
		if err != nil {
			return nil, err
		}
		cl.Add(drop)
		st, err = store.OpenPostgres(ctx, u)
		if err != nil {
			return nil, err
		}
	}
	var closeOnce sync.Once
	closeStore := func() { closeOnce.Do(func() { st.Close() }) }
	cl.Add(closeStore)
	defer closeStore()
	if _, err := st.MigrateUp(ctx); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := jobs.Migrate(ctx, st); err != nil {
		return nil, fmt.Errorf("migrate jobs: %w", err)
	}

	// The real ingest path: the service, River with the ingest worker.
	hub := realtime.NewHub()
	kb := knowledge.NewService(st, hub, nil, nil, knowledge.Options{}, log)
	workers := river.NewWorkers()
	jobs.AddIngestWorker(workers, kb, log)
	q, err := jobs.New(st, jobs.Options{Work: true, Workers: workers, Log: log})
	if err != nil {
		return nil, err
	}
	kb.SetIngest(q)
	if err := q.Start(ctx); err != nil {
		return nil, fmt.Errorf("start the job queue: %w", err)
	}
	var stopOnce sync.Once
	stopQueue := func() {
		stopOnce.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = q.Stop(sctx)
		})
	}
	cl.Add(stopQueue)
	defer stopQueue()

	if ftsDB == nil {
		ftsDB = st.MigratorDB()
	}
	b := &bench{o: o, st: st, kb: kb, log: log, ftsDB: ftsDB}
	res := &result{dialect: d}
	if err := b.scifact(ctx, ds, res); err != nil {
		return res, err
	}
	if o.chunks > 0 {
		res.scale = &scaleResult{}
		if err := b.atScale(ctx, ds, res.scale); err != nil {
			return res, err
		}
	}
	return res, nil
}

// createSchema makes an empty schema on the PostgreSQL server and returns
// a URL selecting it, and the function that drops it (once).
func createSchema(base, prefix string, keep bool) (string, func(), error) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := prefix + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create schema on %s: %w", base, err)
	}
	var once sync.Once
	drop := func() {
		once.Do(func() {
			defer db.Close()
			if keep {
				benchkit.Progress("keeping PostgreSQL schema %s", schema)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
				fmt.Fprintf(os.Stderr, "retrieval bench: drop schema %s: %v\n", schema, err)
			} else {
				benchkit.Progress("dropped PostgreSQL schema %s", schema)
			}
		})
	}
	u, err := url.Parse(base)
	if err != nil {
		drop()
		return "", nil, err
	}
	qv := u.Query()
	qv.Set("search_path", schema)
	u.RawQuery = qv.Encode()
	benchkit.Progress("created PostgreSQL schema %s", schema)
	return u.String(), drop, nil
}

// newTenant creates a tenant directly in the store and returns a principal
// acting on it as an API key would (the audit log names the key by id
// only, so no key row is needed).
// checkpoint folds SQLite's write-ahead log into the database file after a
// bulk load, so the searches that follow (ours and the built-in ones) read
// the same compact file rather than a long WAL; a no-op on PostgreSQL.
func (b *bench) checkpoint(ctx context.Context) {
	if b.st.Dialect() != store.SQLite {
		return
	}
	var busy, logged, done int
	if err := b.st.DB().QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done); err != nil {
		benchkit.Progress("  wal checkpoint: %v", err)
	}
}

// took is the time since t; with -slow it reports an outlier.
func (b *bench) took(t time.Time, what, q string) time.Duration {
	d := time.Since(t)
	if b.o.slow > 0 && d >= b.o.slow {
		benchkit.Progress("  slow %s search: %s for %q", what, d.Round(time.Microsecond), q)
	}
	return d
}

func (b *bench) newTenant(ctx context.Context, name string) (*auth.Principal, error) {
	var id string
	err := b.st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		tn, err := tx.CreateTenant(ctx, name)
		id = tn.ID
		return err
	})
	if err != nil {
		return nil, err
	}
	return &auth.Principal{Kind: "api_key", TenantID: id, KeyID: "bench", Scopes: []string{auth.ScopeRead, auth.ScopeWrite, auth.ScopeAdmin}}, nil
}

// raw runs fn on a handle that sees every tenant's rows and may create
// tables in the bench's schema: on SQLite the store's read-write pool; on
// PostgreSQL the schema owner's connection, in a transaction with the
// store's row-security switch set to system (so it also works when the
// URL's user is not a superuser).
func (b *bench) raw(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	if b.st.Dialect() == store.SQLite {
		return fn(ctx, b.st.DB())
	}
	tx, err := b.st.MigratorDB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT set_config('app.system', 'on', true)`); err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// ingest creates n documents through knowledge.Create with o.parallel
// goroutines; gen is called in order from one goroutine (so a seeded
// generator stays deterministic). It returns the document ids by index.
func (b *bench) ingest(ctx context.Context, p *auth.Principal, n int, gen func(i int) knowledge.New) ([]string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type item struct {
		i int
		n knowledge.New
	}
	work := make(chan item, b.o.parallel*2)
	ids := make([]string, n)
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range b.o.parallel {
		wg.Go(func() {
			for it := range work {
				v, err := b.kb.Create(ctx, p, it.n)
				if err != nil {
					errOnce.Do(func() {
						firstErr = fmt.Errorf("create document %d (%q): %w", it.i, it.n.Title, err)
						cancel()
					})
					continue
				}
				ids[it.i] = v.ID
			}
		})
	}
feed:
	for i := range n {
		select {
		case work <- item{i, gen(i)}:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return ids, ctx.Err()
}

// waitReady polls the documents table until want documents of the tenant
// are ready, failing on the first failed one. It returns the chunk count.
func (b *bench) waitReady(ctx context.Context, tenantID string, want int, what string) (int, error) {
	lastReport := time.Now()
	for {
		counts := map[string]int{}
		chunks := 0
		err := b.raw(ctx, func(ctx context.Context, q querier) error {
			rows, err := q.QueryContext(ctx, `SELECT status, COUNT(*), COALESCE(SUM(chunk_count), 0) FROM documents WHERE tenant_id = $1 GROUP BY status`, tenantID)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var s string
				var n, c int
				if err := rows.Scan(&s, &n, &c); err != nil {
					return err
				}
				counts[s] = n
				if s == "ready" {
					chunks = c
				}
			}
			return rows.Err()
		})
		if err != nil {
			return 0, fmt.Errorf("count documents: %w", err)
		}
		if counts["failed"] > 0 {
			var title, reason string
			_ = b.raw(ctx, func(ctx context.Context, q querier) error {
				return q.QueryRowContext(ctx, `SELECT title, error FROM documents WHERE tenant_id = $1 AND status = 'failed' LIMIT 1`, tenantID).Scan(&title, &reason)
			})
			return 0, fmt.Errorf("%d %s documents failed to ingest; the first, %q: %s", counts["failed"], what, title, reason)
		}
		if counts["ready"] >= want {
			return chunks, nil
		}
		if time.Since(lastReport) >= 10*time.Second {
			lastReport = time.Now()
			benchkit.Progress("  %s: %d/%d ready (%d queued, %d processing)", what, counts["ready"], want, counts["queued"], counts["processing"])
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------------
// SciFact: quality and latency at its own size

func (b *bench) scifact(ctx context.Context, ds *dataset, res *result) error {
	p, err := b.newTenant(ctx, "retrieval-bench scifact")
	if err != nil {
		return err
	}
	benchkit.Progress("%s: ingesting %d SciFact documents through knowledge.Create + River ingest", b.st.Dialect(), len(ds.docs))
	start := time.Now()
	ids, err := b.ingest(ctx, p, len(ds.docs), func(i int) knowledge.New {
		d := ds.docs[i]
		return knowledge.New{Title: d.Title, Text: d.Text, TextSet: true}
	})
	if err != nil {
		return err
	}
	created := time.Since(start)
	chunks, err := b.waitReady(ctx, p.TenantID, len(ds.docs), "SciFact")
	if err != nil {
		return err
	}
	res.docs, res.chunks, res.ingest = len(ds.docs), chunks, time.Since(start)
	b.checkpoint(ctx)
	fmt.Printf("ingest: %d documents → %d chunks in %s (%.0f docs/s; creates done after %s)\n",
		res.docs, res.chunks, res.ingest.Round(time.Millisecond), float64(res.docs)/res.ingest.Seconds(), created.Round(time.Millisecond))
	cidOf := make(map[string]string, len(ids))
	for i, id := range ids {
		cidOf[id] = ds.docs[i].ID
	}

	// Ours: the first search loads the tenant's index from the chunks.
	t0 := time.Now()
	if _, err := b.kb.Search(ctx, p, knowledge.SearchRequest{Query: ds.queries[0].Text, TopK: 100}); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	res.cold = time.Since(t0)
	var lat []time.Duration
	var sum quality
	var distinctDocs float64
	for _, q := range ds.queries {
		t := time.Now()
		rs, err := b.kb.Search(ctx, p, knowledge.SearchRequest{Query: q.Text, TopK: 100})
		lat = append(lat, b.took(t, "ours SciFact", q.Text))
		if err != nil {
			return fmt.Errorf("search %q: %w", q.Text, err)
		}
		var ranked []string
		seen := map[string]bool{}
		for _, r := range rs {
			if !seen[r.DocumentID] {
				seen[r.DocumentID] = true
				ranked = append(ranked, cidOf[r.DocumentID])
			}
		}
		distinctDocs += float64(len(ranked))
		sum.ndcg10 += ndcg(ranked, ds.qrels[q.ID], 10)
		sum.recall100 += recall(ranked, ds.qrels[q.ID], 100)
	}
	n := float64(len(ds.queries))
	res.ours = quality{sum.ndcg10 / n, sum.recall100 / n}
	res.oursLat = summarise(lat)
	res.ourDocsPerList = distinctDocs / n
	fmt.Printf("ours (knowledge.Search, top 100 chunks → %.1f distinct documents on average):\n", res.ourDocsPerList)
	fmt.Printf("  nDCG@10 %.4f (%.3f× BEIR BM25 %.3f)   Recall@100 %.4f (%.3f× %.3f)\n",
		res.ours.ndcg10, res.ours.ndcg10/refNDCG10, refNDCG10, res.ours.recall100, res.ours.recall100/refRecall100, refRecall100)
	fmt.Printf("  latency: first search (index load) %s; then p50 %s p95 %s p99 %s over %d searches\n",
		ms(res.cold), ms(res.oursLat.p50), ms(res.oursLat.p95), ms(res.oursLat.p99), res.oursLat.n)

	// The built-in full-text ranking over the same texts.
	ft := newFullText(b, "bench_fts")
	t0 = time.Now()
	if err := ft.create(ctx); err != nil {
		return fmt.Errorf("built-in full-text table: %w", err)
	}
	err = b.raw(ctx, func(ctx context.Context, q querier) error {
		for _, d := range ds.docs {
			if _, err := q.ExecContext(ctx, `INSERT INTO bench_fts (cid, body) VALUES ($1, $2)`, d.ID, d.Title+" "+d.Text); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load the built-in full-text table: %w", err)
	}
	if err := ft.finish(ctx); err != nil {
		return err
	}
	b.checkpoint(ctx)
	res.builtinLoad = time.Since(t0)
	lat = lat[:0]
	sum = quality{}
	for _, q := range ds.queries {
		t := time.Now()
		ranked, err := ft.search(ctx, q.Text, 100)
		lat = append(lat, b.took(t, "built-in SciFact", q.Text))
		if err != nil {
			return fmt.Errorf("built-in full-text query %q: %w", q.Text, err)
		}
		sum.ndcg10 += ndcg(ranked, ds.qrels[q.ID], 10)
		sum.recall100 += recall(ranked, ds.qrels[q.ID], 100)
	}
	res.builtin = quality{sum.ndcg10 / n, sum.recall100 / n}
	res.builtinLat = summarise(lat)
	fmt.Printf("built-in (%s), table loaded and indexed in %s:\n", ft.describe(), res.builtinLoad.Round(time.Millisecond))
	fmt.Printf("  nDCG@10 %.4f   Recall@100 %.4f   latency p50 %s p95 %s p99 %s\n",
		res.builtin.ndcg10, res.builtin.recall100, ms(res.builtinLat.p50), ms(res.builtinLat.p95), ms(res.builtinLat.p99))
	fmt.Printf("ours ÷ built-in: nDCG@10 %.3f×, Recall@100 %.3f×, p95 latency %.2f×\n",
		res.ours.ndcg10/res.builtin.ndcg10, res.ours.recall100/res.builtin.recall100, ratio(res.oursLat.p95, res.builtinLat.p95))
	return nil
}

// ndcg is nDCG@k with gain = the judgement's grade and discount
// 1/log2(rank+1); the ideal ranking is the query's judgements sorted.
func ndcg(ranked []string, rel map[string]int, k int) float64 {
	var dcg float64
	for i, id := range ranked[:min(k, len(ranked))] {
		if g := rel[id]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	var grades []int
	for _, g := range rel {
		if g > 0 {
			grades = append(grades, g)
		}
	}
	slices.Sort(grades)
	slices.Reverse(grades)
	var idcg float64
	for i, g := range grades[:min(k, len(grades))] {
		idcg += float64(g) / math.Log2(float64(i+2))
	}
	if idcg == 0 {
		return 0
	}
	return dcg / idcg
}

// recall is the share of the relevant documents in the first k.
func recall(ranked []string, rel map[string]int, k int) float64 {
	relevant, found := 0, 0
	for _, g := range rel {
		if g > 0 {
			relevant++
		}
	}
	for _, id := range ranked[:min(k, len(ranked))] {
		if rel[id] > 0 {
			found++
		}
	}
	if relevant == 0 {
		return 0
	}
	return float64(found) / float64(relevant)
}

// ---------------------------------------------------------------------------
// The database's built-in full-text ranking

type fullText struct {
	b     *bench
	table string
}

func newFullText(b *bench, table string) *fullText { return &fullText{b: b, table: table} }

func (f *fullText) describe() string {
	if f.b.st.Dialect() == store.SQLite {
		return "SQLite FTS5, porter unicode61, ORDER BY bm25()"
	}
	return "PostgreSQL tsvector 'english' + GIN, ORDER BY ts_rank_cd()"
}

// create makes the table (cid, body); rows are loaded by the caller.
func (f *fullText) create(ctx context.Context) error {
	return f.b.raw(ctx, func(ctx context.Context, q querier) error {
		var stmt string
		if f.b.st.Dialect() == store.SQLite {
			stmt = `CREATE VIRTUAL TABLE ` + f.table + ` USING fts5(cid UNINDEXED, body, tokenize='porter unicode61')`
		} else {
			stmt = `CREATE TABLE ` + f.table + ` (cid text NOT NULL, body text NOT NULL,
vec tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED)`
		}
		_, err := q.ExecContext(ctx, stmt)
		return err
	})
}

// finish indexes a loaded table (PostgreSQL: the GIN index, built after
// the load, and fresh statistics).
func (f *fullText) finish(ctx context.Context) error {
	if f.b.st.Dialect() == store.SQLite {
		return f.b.raw(ctx, func(ctx context.Context, q querier) error {
			_, err := q.ExecContext(ctx, `INSERT INTO `+f.table+`(`+f.table+`) VALUES ('optimize')`)
			return err
		})
	}
	err := f.b.raw(ctx, func(ctx context.Context, q querier) error {
		_, err := q.ExecContext(ctx, `CREATE INDEX `+f.table+`_vec ON `+f.table+` USING gin (vec)`)
		return err
	})
	if err != nil {
		return err
	}
	_, err = f.b.st.MigratorDB().ExecContext(ctx, `ANALYZE `+f.table)
	return err
}

// search runs the OR of the query's words and returns the ranked cids.
func (f *fullText) search(ctx context.Context, text string, limit int) ([]string, error) {
	ws := words(text)
	if len(ws) == 0 {
		return nil, nil
	}
	var stmt, arg string
	if f.b.st.Dialect() == store.SQLite {
		quoted := make([]string, len(ws))
		for i, w := range ws {
			quoted[i] = `"` + w + `"`
		}
		stmt = `SELECT cid FROM ` + f.table + ` WHERE ` + f.table + ` MATCH $1 ORDER BY bm25(` + f.table + `) LIMIT $2`
		arg = strings.Join(quoted, " OR ")
	} else {
		// Words are letters and digits only: nothing to_tsquery reads as
		// an operator. Stop words are dropped by to_tsquery itself.
		stmt = `SELECT cid FROM ` + f.table + `, to_tsquery('english', $1) q WHERE vec @@ q ORDER BY ts_rank_cd(vec, q) DESC LIMIT $2`
		arg = strings.Join(ws, " | ")
	}
	rows, err := f.b.ftsDB.QueryContext(ctx, stmt, arg, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var cid string
		if err := rows.Scan(&cid); err != nil {
			return nil, err
		}
		out = append(out, cid)
	}
	return out, rows.Err()
}

// ---------------------------------------------------------------------------
// Latency at scale

// synth makes synthetic documents: one heading, then paragraphs of about
// paraWords words, each made of SciFact sentences drawn with a fixed seed.
type synth struct {
	ds        *dataset
	rng       *mrand.Rand
	paraWords int
	paras     int // per document
	words     int
	made      int // paragraphs made
}

func (s *synth) doc(i int) knowledge.New {
	title := fmt.Sprintf("Synthetic report %d", i+1)
	var sb strings.Builder
	sb.WriteString("# " + title + "\n\n")
	for p := range s.paras {
		if p > 0 {
			sb.WriteString("\n\n")
		}
		// Stop near the target so the mean lands on it: a sentence averages
		// about 25 words, so the last one overshoots by half of that.
		n := 0
		for first := true; n < s.paraWords-12; first = false {
			k := s.rng.IntN(len(s.ds.sentences))
			if !first {
				sb.WriteByte(' ')
			}
			sb.WriteString(s.ds.sentences[k])
			n += s.ds.sentWords[k]
		}
		s.words += n
		s.made++
	}
	return knowledge.New{Title: title, Text: sb.String(), TextSet: true}
}

func (b *bench) atScale(ctx context.Context, ds *dataset, sr *scaleResult) error {
	p, err := b.newTenant(ctx, "retrieval-bench scale")
	if err != nil {
		return err
	}
	const parasPerDoc = 100
	gen := &synth{ds: ds, rng: mrand.New(mrand.NewPCG(20240611, 1)), paraWords: b.o.paraWords, paras: parasPerDoc}
	// A first batch measures chunks per document; the rest brings the
	// total to about -chunks.
	probe := max(1, min(20, b.o.chunks/parasPerDoc/4))
	benchkit.Progress("%s: ingesting synthetic documents (%d paragraphs of ~%d words each) towards %d chunks", b.st.Dialect(), parasPerDoc, b.o.paraWords, b.o.chunks)
	start := time.Now()
	if _, err := b.ingest(ctx, p, probe, gen.doc); err != nil {
		return err
	}
	chunks, err := b.waitReady(ctx, p.TenantID, probe, "synthetic")
	if err != nil {
		return err
	}
	perDoc := float64(chunks) / float64(probe)
	total := max(probe, int(math.Round(float64(b.o.chunks)/perDoc)))
	benchkit.Progress("  %d documents gave %d chunks (%.1f per document): %d documents in all", probe, chunks, perDoc, total)
	if total > probe {
		if _, err := b.ingest(ctx, p, total-probe, func(i int) knowledge.New { return gen.doc(probe + i) }); err != nil {
			return err
		}
		if chunks, err = b.waitReady(ctx, p.TenantID, total, "synthetic"); err != nil {
			return err
		}
	}
	sr.docs, sr.chunks, sr.ingest = total, chunks, time.Since(start)
	b.checkpoint(ctx)
	sr.paraWords = float64(gen.words) / float64(gen.made)
	fmt.Printf("\nat scale: %d synthetic documents (%d paragraphs of %.0f words on average) → %d chunks (%+.1f%% of -chunks %d)\n",
		sr.docs, parasPerDoc, sr.paraWords, sr.chunks, 100*(float64(sr.chunks)/float64(b.o.chunks)-1), b.o.chunks)
	fmt.Printf("  ingest %s (%.1f docs/s, %.0f chunks/s)\n", sr.ingest.Round(time.Millisecond),
		float64(sr.docs)/sr.ingest.Seconds(), float64(sr.chunks)/sr.ingest.Seconds())
	if math.Abs(float64(sr.chunks)/float64(b.o.chunks)-1) > 0.10 {
		fmt.Printf("  note: the chunk count is more than 10%% off -chunks\n")
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rounds := (b.o.searches + len(ds.queries) - 1) / len(ds.queries)
	t0 := time.Now()
	if _, err := b.kb.Search(ctx, p, knowledge.SearchRequest{Query: ds.queries[0].Text, TopK: 10}); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	sr.cold = time.Since(t0)
	var lat []time.Duration
	for r := range rounds {
		for i, q := range ds.queries {
			if r == 0 && i == 0 {
				continue // the cold search
			}
			t := time.Now()
			if _, err := b.kb.Search(ctx, p, knowledge.SearchRequest{Query: q.Text, TopK: 10}); err != nil {
				return fmt.Errorf("search %q: %w", q.Text, err)
			}
			lat = append(lat, b.took(t, "ours at scale", q.Text))
		}
	}
	sr.lat = summarise(lat)
	runtime.GC()
	runtime.ReadMemStats(&after)
	sr.heapInuse = after.HeapInuse
	sr.heapDelta = int64(after.HeapInuse) - int64(before.HeapInuse)
	fmt.Printf("ours (knowledge.Search, top 10): first search (index load of %d chunks) %s\n", sr.chunks, sr.cold.Round(time.Millisecond))
	fmt.Printf("  then p50 %s p95 %s p99 %s over %d searches (the %d queries × %d)\n",
		ms(sr.lat.p50), ms(sr.lat.p95), ms(sr.lat.p99), sr.lat.n, len(ds.queries), rounds)
	fmt.Printf("  heap in use after: %s; the index load added %s (%.0f bytes per chunk)\n",
		mib(int64(sr.heapInuse)), mib(sr.heapDelta), float64(sr.heapDelta)/float64(sr.chunks))

	// The built-in full-text ranking over the same chunk texts.
	ft := newFullText(b, "bench_fts_scale")
	t0 = time.Now()
	if err := ft.create(ctx); err != nil {
		return fmt.Errorf("built-in full-text table: %w", err)
	}
	// Pages of a few thousand rows, each its own statement: on SQLite the
	// job queue shares the one write connection and must not wait long.
	id := func(col string) string {
		if b.st.Dialect() == store.Postgres {
			return col + "::text"
		}
		return col
	}
	for last := "00000000-0000-0000-0000-000000000000"; ; {
		var next string
		err = b.raw(ctx, func(ctx context.Context, q querier) error {
			err := q.QueryRowContext(ctx, `SELECT `+id("id")+` FROM (SELECT id FROM chunks WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT 1000) page
ORDER BY id DESC LIMIT 1`, p.TenantID, last).Scan(&next)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			_, err = q.ExecContext(ctx, `INSERT INTO bench_fts_scale (cid, body) SELECT `+id("id")+`, text FROM chunks
WHERE tenant_id = $1 AND id > $2 AND id <= $3`, p.TenantID, last, next)
			return err
		})
		if err != nil {
			return fmt.Errorf("load the built-in full-text table: %w", err)
		}
		if next == "" {
			break
		}
		last = next
	}
	loaded := time.Since(t0)
	if err := ft.finish(ctx); err != nil {
		return err
	}
	b.checkpoint(ctx)
	benchkit.Progress("  built-in table: rows loaded in %s, indexed/optimised in %s", loaded.Round(time.Millisecond), (time.Since(t0) - loaded).Round(time.Millisecond))
	sr.builtinLoad = time.Since(t0)
	t0 = time.Now()
	if _, err := ft.search(ctx, ds.queries[0].Text, 10); err != nil {
		return err
	}
	sr.builtinCold = time.Since(t0)
	lat = lat[:0]
	deadline := time.Now().Add(b.o.baseBudget)
	for i := 0; i < b.o.baseSearches; i++ {
		if time.Now().After(deadline) {
			sr.builtinTimedOut = true
			break
		}
		q := ds.queries[i%len(ds.queries)]
		t := time.Now()
		if _, err := ft.search(ctx, q.Text, 10); err != nil {
			return fmt.Errorf("built-in full-text query %q: %w", q.Text, err)
		}
		lat = append(lat, b.took(t, "built-in at scale", q.Text))
	}
	sr.builtinLat = summarise(lat)
	cut := ""
	if sr.builtinTimedOut {
		cut = fmt.Sprintf(" (stopped by -baseline-budget %s)", b.o.baseBudget)
	}
	fmt.Printf("built-in (%s) over the same %d chunk texts, loaded and indexed in %s:\n", ft.describe(), sr.chunks, sr.builtinLoad.Round(time.Millisecond))
	fmt.Printf("  first query %s; p50 %s p95 %s p99 %s over %d queries%s\n",
		ms(sr.builtinCold), ms(sr.builtinLat.p50), ms(sr.builtinLat.p95), ms(sr.builtinLat.p99), sr.builtinLat.n, cut)
	fmt.Printf("ours ÷ built-in at scale: p50 %.2f×, p95 %.2f×\n", ratio(sr.lat.p50, sr.builtinLat.p50), ratio(sr.lat.p95, sr.builtinLat.p95))
	return nil
}

// ---------------------------------------------------------------------------
// Output

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

func printSummary(o options, results []*result) {
	if len(results) == 0 {
		return
	}
	w := io.Writer(os.Stdout)
	fmt.Fprintf(w, "\n=== summary ===\n")
	header := fmt.Sprintf("%-40s", "")
	for _, r := range results {
		header += fmt.Sprintf(" | %-24s", r.dialect)
	}
	fmt.Fprintln(w, header)
	fmt.Fprintln(w, strings.Repeat("-", len(header)))
	row := func(label string, cell func(r *result) string) {
		line := fmt.Sprintf("%-40s", label)
		for _, r := range results {
			line += fmt.Sprintf(" | %-24s", cell(r))
		}
		fmt.Fprintln(w, line)
	}
	sci := func(f func(r *result) string) func(r *result) string {
		return func(r *result) string {
			if r.docs == 0 {
				return "—"
			}
			return f(r)
		}
	}
	scale := func(f func(s *scaleResult) string) func(r *result) string {
		return func(r *result) string {
			if r.scale == nil || r.scale.lat.n == 0 {
				return "—"
			}
			return f(r.scale)
		}
	}
	row("SciFact ingest (docs/s)", sci(func(r *result) string {
		return fmt.Sprintf("%.0f (%d docs, %s)", float64(r.docs)/r.ingest.Seconds(), r.docs, r.ingest.Round(100*time.Millisecond))
	}))
	row("SciFact chunks", sci(func(r *result) string { return strconv.Itoa(r.chunks) }))
	row("nDCG@10 ours", sci(func(r *result) string {
		return fmt.Sprintf("%.4f (%.3f× 0.665)", r.ours.ndcg10, r.ours.ndcg10/refNDCG10)
	}))
	row("Recall@100 ours", sci(func(r *result) string {
		return fmt.Sprintf("%.4f (%.3f× 0.908)", r.ours.recall100, r.ours.recall100/refRecall100)
	}))
	row("nDCG@10 built-in", sci(func(r *result) string { return fmt.Sprintf("%.4f", r.builtin.ndcg10) }))
	row("Recall@100 built-in", sci(func(r *result) string { return fmt.Sprintf("%.4f", r.builtin.recall100) }))
	row("nDCG@10 ours ÷ built-in", sci(func(r *result) string { return fmt.Sprintf("%.3f×", r.ours.ndcg10/r.builtin.ndcg10) }))
	row("SciFact latency ours p50 / p95", sci(func(r *result) string {
		return fmt.Sprintf("%s / %s", ms(r.oursLat.p50), ms(r.oursLat.p95))
	}))
	row("SciFact latency built-in p50 / p95", sci(func(r *result) string {
		return fmt.Sprintf("%s / %s", ms(r.builtinLat.p50), ms(r.builtinLat.p95))
	}))
	if o.chunks > 0 {
		row(fmt.Sprintf("scale: chunks (target %d)", o.chunks), scale(func(s *scaleResult) string { return fmt.Sprintf("%d (%d docs)", s.chunks, s.docs) }))
		row("scale: ingest", scale(func(s *scaleResult) string {
			return fmt.Sprintf("%.1f docs/s, %.0f chunks/s", float64(s.docs)/s.ingest.Seconds(), float64(s.chunks)/s.ingest.Seconds())
		}))
		row("scale: first search (index load)", scale(func(s *scaleResult) string { return s.cold.Round(time.Millisecond).String() }))
		row("scale: ours p50 / p95 / p99", scale(func(s *scaleResult) string {
			return fmt.Sprintf("%.1f / %.1f / %.1f ms", msf(s.lat.p50), msf(s.lat.p95), msf(s.lat.p99))
		}))
		row("scale: built-in p50 / p95 / p99", scale(func(s *scaleResult) string {
			return fmt.Sprintf("%.1f / %.1f / %.1f ms", msf(s.builtinLat.p50), msf(s.builtinLat.p95), msf(s.builtinLat.p99))
		}))
		row("scale: p95 ours ÷ built-in", scale(func(s *scaleResult) string { return fmt.Sprintf("%.3f×", ratio(s.lat.p95, s.builtinLat.p95)) }))
		row("scale: heap in use / per chunk", scale(func(s *scaleResult) string {
			return fmt.Sprintf("%s / %.0f B", mib(int64(s.heapInuse)), float64(s.heapDelta)/float64(s.chunks))
		}))
	}
	row("target nDCG@10 ≥ 0.665", sci(func(r *result) string { return passMiss(r.ours.ndcg10 >= refNDCG10) }))
	if o.chunks > 0 {
		row(fmt.Sprintf("target p95 < 50 ms at %d chunks", o.chunks), scale(func(s *scaleResult) string { return passMiss(s.lat.p95 < targetP95) }))
	}
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
