// Command replies benchmarks the reply pipeline end to end: how many
// assistant replies per second one server delivers, and how long each takes,
// when visitors talk to a bot through the web widget.
//
// One exchange is: a visitor's message frame on its widget WebSocket →
// conversations.PostInbound stores it and inserts the River reply job in the
// same transaction → River fetches the job → assistants.Replier reads the
// conversation, calls the model (streaming deltas to the socket) and stores
// the reply → the reply reaches the visitor's socket through the event bus.
// The model is a zero-latency fake (internal/llm/fake, an OpenAI-compatible
// server in its own child process) and, in a second phase, the built-in
// extractive provider (no HTTP at all).
//
// Visitors run a closed loop: each sends its next message only when the
// assistant's reply to the previous one has arrived, so the rate found is
// what the server sustains with that many visitors waiting.
//
// The baseline, measured in the same run, is the raw rate of writing the
// same rows without the pipeline: through internal/store, on a fresh
// database of the same dialect, with the same concurrency, each iteration
// appends the inbound message and inserts the River job in one
// transaction, then appends the reply message in a second one. That is
// what the pipeline writes minus the model, job fetching, events and
// sockets. The pipeline's figures are printed as a ratio to it.
//
// The server runs as a child process of this program (it re-executes
// itself with a hidden first argument): that child calls cli.Run("serve")
// and is wired exactly as `metachat serve`. The fake model is a second
// child, so the CPU of server, model, client and database is read per
// process.
//
// Usage (see README.md):
//
//	go run ./bench/replies [-dialect sqlite|postgres] [-visitors 200] [-duration 15s] [-models both|openai|extractive]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the schema set-up and the job analysis

	"github.com/metachat/metachat/bench/internal/benchkit"
	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/cli"
	"github.com/metachat/metachat/internal/conversations"
	"github.com/metachat/metachat/internal/jobs"
	"github.com/metachat/metachat/internal/llm"
	"github.com/metachat/metachat/internal/llm/fake"
	"github.com/metachat/metachat/internal/store"
)

// childArg as the first argument makes this program a child: the server
// ("serve") or the fake model ("fake").
const childArg = "__replies-bench-child"

// The job queue's settings, from internal/jobs (jobs.New): printed with the
// results because they bound what the pipeline can do.
const (
	riverWorkers      = jobs.DefaultWorkers
	riverCooldown     = 20 * time.Millisecond
	riverPollInterval = 100 * time.Millisecond
)

type options struct {
	dialect      string
	pgURL        string
	visitors     int
	duration     time.Duration
	models       string
	replyTimeout time.Duration
	modelDelay   time.Duration
	baseline     bool
	timeout      time.Duration
	keep         bool
	profile      string
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == childArg {
		os.Exit(runChild(os.Args[2]))
	}
	var o options
	flag.StringVar(&o.dialect, "dialect", "sqlite", "database: sqlite (embedded, in a temporary data dir) or postgres (fresh schemas on -pg-url)")
	flag.StringVar(&o.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for -dialect postgres; the bench creates and drops its own schemas")
	flag.IntVar(&o.visitors, "visitors", 200, "visitor WebSockets, each in a closed loop (its next message only after the reply to the last)")
	flag.DurationVar(&o.duration, "duration", 15*time.Second, "length of each measured window (per model, and for the baseline)")
	flag.StringVar(&o.models, "models", "both", "which model answers: openai (the zero-latency fake OpenAI server), extractive (built in, no HTTP) or both, one after the other")
	flag.DurationVar(&o.modelDelay, "model-delay", 0, "the fake model waits this long before it answers (0: zero latency, the default); shows what the worker count does with a real model's latency")
	flag.DurationVar(&o.replyTimeout, "reply-timeout", 30*time.Second, "a reply not seen this long after its message counts as an error")
	flag.BoolVar(&o.baseline, "baseline", true, "measure the store baseline (direct row writes) for the ratio")
	flag.DurationVar(&o.timeout, "timeout", 0, "hard limit on the whole run (default 3m + 3×duration + 2×reply-timeout); the bench cleans up and exits when reached")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (server and model logs, SQLite files)")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU profiles of the server child, one per measured window")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "replies bench: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if o.dialect != "sqlite" && o.dialect != "postgres" {
		fmt.Fprintln(os.Stderr, "replies bench: -dialect must be sqlite or postgres")
		os.Exit(2)
	}
	if o.models != "both" && o.models != "openai" && o.models != "extractive" {
		fmt.Fprintln(os.Stderr, "replies bench: -models must be both, openai or extractive")
		os.Exit(2)
	}
	if o.visitors < 1 || o.duration <= 0 || o.replyTimeout <= 0 || o.modelDelay < 0 {
		fmt.Fprintln(os.Stderr, "replies bench: -visitors, -duration and -reply-timeout must be positive, -model-delay not negative")
		os.Exit(2)
	}
	if o.timeout == 0 {
		o.timeout = 3*time.Minute + 3*o.duration + 2*o.replyTimeout
	}
	os.Exit(run(o))
}

// ---------------------------------------------------------------------------
// Orchestration

func run(o options) int {
	started := time.Now()
	cl := &benchkit.Cleanup{}
	defer cl.Run()
	watchdog := time.AfterFunc(o.timeout, func() {
		fmt.Fprintf(os.Stderr, "replies bench: time limit %s reached: cleaning up and stopping\n", o.timeout)
		cl.Run()
		os.Exit(2)
	})
	defer watchdog.Stop()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		fmt.Fprintf(os.Stderr, "replies bench: %s: cleaning up\n", s)
		cl.Run()
		os.Exit(130)
	}()
	raiseNofile(o.visitors)

	tmp, err := os.MkdirTemp("", "metachat-repliesbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "replies bench:", err)
		return 1
	}
	cl.Add(func() {
		if o.keep {
			fmt.Fprintln(os.Stderr, "replies bench: kept", tmp)
			return
		}
		os.RemoveAll(tmp)
	})

	ctx := context.Background()
	var base *baselineResult
	if o.baseline {
		if base, err = runBaseline(ctx, o, cl, tmp); err != nil {
			fmt.Fprintln(os.Stderr, "replies bench: baseline:", err)
			return 1
		}
	}
	meta, err := runMetachat(ctx, o, cl, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "replies bench: metachat:", err)
		return 1
	}
	cl.Run()
	report(os.Stdout, o, base, meta, time.Since(started))
	return 0
}

// raiseNofile lifts RLIMIT_NOFILE to its hard limit (children inherit it).
func raiseNofile(visitors int) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	if need := uint64(visitors + 512); rl.Cur < need {
		fmt.Fprintf(os.Stderr, "replies bench: RLIMIT_NOFILE is %d: %d visitors may run out of descriptors\n", rl.Cur, visitors)
	}
}

// ---------------------------------------------------------------------------
// Children: the server and the fake model

// runChild is a child process: it serves until its standard input closes
// (or a signal), and answers command lines on standard input with a JSON
// line on file descriptor 3.
func runChild(kind string) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var stats func() any
	ctrl := os.NewFile(3, "ctrl")
	ready := make(chan struct{})
	go func() {
		<-ready
		sc := bufio.NewScanner(os.Stdin)
		var cpuf *os.File
		for sc.Scan() {
			cmd, arg, _ := strings.Cut(sc.Text(), " ")
			var answer any = struct{}{}
			switch cmd {
			case "stats":
				if stats != nil {
					answer = stats()
				}
			case "cpu":
				if f, err := os.Create(arg); err == nil && pprof.StartCPUProfile(f) == nil {
					cpuf = f
				}
			case "cpustop":
				if cpuf != nil {
					pprof.StopCPUProfile()
					cpuf.Close()
					cpuf = nil
				}
			}
			b, _ := json.Marshal(answer)
			_, _ = ctrl.Write(append(b, '\n'))
		}
		cancel() // the parent is done (or gone)
	}()
	switch kind {
	case "serve":
		close(ready)
		return cli.Run(ctx, []string{"serve"}, os.LookupEnv, cli.IO{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr})
	case "fake":
		return runFake(ctx, &stats, ready)
	}
	fmt.Fprintln(os.Stderr, "unknown child", kind)
	return 2
}

// modelDelayEnv passes -model-delay to the model child.
const modelDelayEnv = "REPLIES_BENCH_MODEL_DELAY"

// fakeStats is what the model child reports: requests answered and TCP
// connections accepted.
type fakeStats struct {
	Calls int   `json:"calls"`
	Conns int64 `json:"conns"`
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// runFake serves internal/llm/fake's OpenAI handler (any API key; every
// answer "Hello from fake" streamed in 3 deltas at once) on a listener that
// counts connections.
func runFake(ctx context.Context, stats *func() any, ready chan struct{}) int {
	fs := fake.NewOpenAI()
	defer fs.Close()
	fs.SetAPIKey("")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cl := &countingListener{Listener: ln}
	handler := fs.Config.Handler
	if d, _ := time.ParseDuration(os.Getenv(modelDelayEnv)); d > 0 {
		inner := handler
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				inner.ServeHTTP(w, r)
			case <-r.Context().Done():
			}
		})
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	*stats = func() any { return fakeStats{Calls: fs.Calls(), Conns: cl.n.Load()} }
	close(ready)
	fmt.Printf("fake model listening on http://%s\n", ln.Addr())
	go func() { _ = srv.Serve(cl) }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}

// child is a running child process.
type child struct {
	cmd     *exec.Cmd
	stdin   *os.File
	ctrl    *bufio.Reader
	ctrlMu  sync.Mutex
	url     string
	logPath string
	done    chan struct{}
	once    sync.Once
}

var listenRE = regexp.MustCompile(`listening on (http://[^ ]+)`)

func startChild(kind string, env []string, logPath string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, childArg, kind)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, logf
	cmd.ExtraFiles = []*os.File{ctlW}
	err = cmd.Start()
	inR.Close()
	outW.Close()
	ctlW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		ctlR.Close()
		return nil, err
	}
	ch := &child{cmd: cmd, stdin: inW, ctrl: bufio.NewReader(ctlR), logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(ch.done)
	}()
	urlc := make(chan string, 1)
	go func() { // read the address, then keep draining standard output
		sc := bufio.NewScanner(outR)
		found := false
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				urlc <- m[1]
			}
		}
		outR.Close()
	}()
	select {
	case u := <-urlc:
		ch.url = u
	case <-ch.done:
		return nil, fmt.Errorf("%s child exited before listening: %s", kind, logTail(logPath))
	case <-time.After(90 * time.Second):
		ch.stop(time.Second)
		return nil, fmt.Errorf("%s child did not start listening within 90s: %s", kind, logTail(logPath))
	}
	return ch, nil
}

// ctl sends the child one command line and returns its answer line.
func (ch *child) ctl(cmd string) ([]byte, error) {
	ch.ctrlMu.Lock()
	defer ch.ctrlMu.Unlock()
	if _, err := io.WriteString(ch.stdin, cmd+"\n"); err != nil {
		return nil, err
	}
	type res struct {
		b   []byte
		err error
	}
	rc := make(chan res, 1)
	go func() {
		b, err := ch.ctrl.ReadBytes('\n')
		rc <- res{b, err}
	}()
	select {
	case r := <-rc:
		return r.b, r.err
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("no answer to %q from the child within 30s", cmd)
	}
}

// fakeStats asks the model child for its counters.
func (ch *child) fakeStats() fakeStats {
	var s fakeStats
	if b, err := ch.ctl("stats"); err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

// cpu is the child's user+system CPU time so far.
func (ch *child) cpu() time.Duration { return benchkit.StatCPU(strconv.Itoa(ch.cmd.Process.Pid)) }

// stop closes the child's standard input (it shuts down gracefully, as on
// SIGTERM) and kills it if it has not exited after grace.
func (ch *child) stop(grace time.Duration) {
	ch.once.Do(func() {
		ch.stdin.Close()
		select {
		case <-ch.done:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "replies bench: child %d did not stop within %s: killing it\n", ch.cmd.Process.Pid, grace)
			_ = ch.cmd.Process.Kill()
			<-ch.done
		}
	})
}

// pressure reads the kernel's "some" stall time (tasks runnable but
// waiting for a CPU, or waiting for I/O) from /proc/pressure (PSI).
func pressure(what string) time.Duration {
	b, err := os.ReadFile("/proc/pressure/" + what)
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return time.Duration(n) * time.Microsecond
			}
		}
	}
	return -1
}

// analyzeSchema gives the tables of db's schema planner statistics (nil
// db: SQLite, nothing to do). A fresh schema has none until autovacuum's
// first visit, up to a minute in; a statement prepared before then (pgx
// prepares each once per connection) may keep a plan made for empty
// tables, a sequential scan that grows with every message. A database in
// use always has statistics, and ANALYZE makes PostgreSQL plan again.
func analyzeSchema(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return nil
	}
	rows, err := db.QueryContext(ctx, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = current_schema()`)
	if err != nil {
		return fmt.Errorf("list tables to analyze: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(names) == 0 {
		return err
	}
	if _, err := db.ExecContext(ctx, `ANALYZE `+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

// pgStats reads the database's activity counters (PostgreSQL only):
// transactions and rows written. The counters are flushed by each backend
// at most once a second, so a reading lags by up to about a second.
func pgStats(db *sql.DB) map[string]float64 {
	if db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var x, ins, upd, del float64
	err := db.QueryRowContext(ctx, `SELECT xact_commit + xact_rollback, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = current_database()`).Scan(&x, &ins, &upd, &del)
	if err != nil {
		return nil
	}
	return map[string]float64{"xacts": x, "inserted": ins, "updated": upd, "deleted": del}
}

func diff(a, b map[string]float64) map[string]float64 {
	if a == nil || b == nil {
		return nil
	}
	out := map[string]float64{}
	for k, v := range b {
		out[k] = v - a[k]
	}
	return out
}

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

// childEnv is this process's environment without metachat settings, plus
// the given ones.
func childEnv(set map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "METACHAT_") || k == "DATABASE_URL" || strings.HasPrefix(k, "OPENAI_") {
			continue
		}
		out = append(out, kv)
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}

// createSchema makes an empty schema on the PostgreSQL server and returns
// a URL selecting it, and the function that drops it (once).
func createSchema(base, prefix string) (string, func(), error) {
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
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
				fmt.Fprintf(os.Stderr, "replies bench: drop schema %s: %v\n", schema, err)
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
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	benchkit.Progress("created PostgreSQL schema %s", schema)
	return u.String(), drop, nil
}

// ---------------------------------------------------------------------------
// Statistics

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

type summary struct {
	n                       int
	p50, p90, p99, max, avg time.Duration
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	d := slices.Clone(l.d)
	l.mu.Unlock()
	return summarise(d)
}

func summarise(d []time.Duration) summary {
	if len(d) == 0 {
		return summary{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	at := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.5) - 1
		return d[min(max(i, 0), len(d)-1)]
	}
	return summary{n: len(d), p50: at(.50), p90: at(.90), p99: at(.99), max: d[len(d)-1], avg: sum / time.Duration(len(d))}
}

// errCount counts errors by a short description.
type errCount struct {
	mu sync.Mutex
	m  map[string]int
}

var digits = regexp.MustCompile(`[0-9]+`)

func (e *errCount) add(what string) {
	what = digits.ReplaceAllString(what, "N")
	if len(what) > 110 {
		what = what[:110] + "…"
	}
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int{}
	}
	e.m[what]++
	e.mu.Unlock()
}

func (e *errCount) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.m {
		n += c
	}
	return n
}

// top lists the most frequent errors.
func (e *errCount) top(k int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range e.m {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || (all[i].n == all[j].n && all[i].k < all[j].k) })
	var out []string
	for i, x := range all {
		if i == k {
			out = append(out, fmt.Sprintf("… and %d more kinds", len(all)-k))
			break
		}
		out = append(out, fmt.Sprintf("%6d × %s", x.n, x.k))
	}
	return out
}

// perSecond counts events by the second of the window they fell in.
type perSecond struct {
	start time.Time
	n     []atomic.Int64
}

func newPerSecond(start time.Time, d time.Duration) *perSecond {
	return &perSecond{start: start, n: make([]atomic.Int64, int((d+time.Second-1)/time.Second))}
}

func (p *perSecond) add(at time.Time) {
	i := int(at.Sub(p.start) / time.Second)
	if i >= 0 && i < len(p.n) {
		p.n[i].Add(1)
	}
}

// spread is the lowest, median and highest whole second (a last partial
// second is left out).
func (p *perSecond) spread(d time.Duration) (lo, med, hi int64) {
	k := int(d / time.Second)
	if k == 0 {
		return 0, 0, 0
	}
	v := make([]int64, k)
	for i := range k {
		v[i] = p.n[i].Load()
	}
	slices.Sort(v)
	return v[0], v[k/2], v[k-1]
}

// ---------------------------------------------------------------------------
// Baseline: the same rows, written straight through the store

type baselineResult struct {
	iters, warm    int
	window         time.Duration
	lat            summary
	errs           errCount
	cpu, dbCPU     time.Duration
	cpuPressure    time.Duration
	machine        time.Duration      // every process on the machine
	pg             map[string]float64 // pg_stat_database: change over the window
	waits          int64
	waitTime       time.Duration
	maxOpen        int
	rowsPerIter    int
	transactsPerIt int
}

func runBaseline(ctx context.Context, o options, cl *benchkit.Cleanup, tmp string) (*baselineResult, error) {
	benchkit.Progress("baseline: opening a fresh %s store", o.dialect)
	var st *store.Store
	var err error
	dropSchema := func() {}
	if o.dialect == "sqlite" {
		st, err = store.OpenSQLite(ctx, filepath.Join(tmp, "baseline", "metachat.db"))
	} else {
		var u string
		u, dropSchema, err = createSchema(o.pgURL, "repliesbench_base_")
		if err != nil {
			return nil, err
		}
		cl.Add(dropSchema)
		st, err = store.OpenPostgres(ctx, u)
	}
	if err != nil {
		return nil, err
	}
	var closeOnce sync.Once
	closeStore := func() { closeOnce.Do(func() { st.Close() }) }
	cl.Add(closeStore)
	if _, err := st.MigrateUp(ctx); err != nil {
		return nil, err
	}
	if err := jobs.Migrate(ctx, st); err != nil {
		return nil, err
	}
	// Insert-only, as `serve --no-workers`: the jobs stay queued.
	q, err := jobs.New(st, jobs.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}

	// One tenant, one channel, and a contact and conversation per worker,
	// as each visitor has its own conversation in the pipeline.
	var tenantID string
	err = st.Write(ctx, store.SystemScope, func(tx *store.Tx) error {
		tn, err := tx.CreateTenant(ctx, "replies-bench baseline")
		tenantID = tn.ID
		return err
	})
	if err != nil {
		return nil, err
	}
	scope := store.TenantScope(tenantID)
	convs := make([]string, o.visitors)
	contacts := make([]string, o.visitors)
	err = st.Write(ctx, scope, func(tx *store.Tx) error {
		ch, err := tx.CreateChannel(ctx, store.Channel{Type: "web", Name: "baseline", Config: json.RawMessage(`{"allowed_origins":[]}`)})
		if err != nil {
			return err
		}
		for i := range convs {
			ct, err := tx.UpsertContact(ctx, ch.ID, fmt.Sprintf("v_baseline_%d", i), "")
			if err != nil {
				return err
			}
			conv, err := tx.CreateConversation(ctx, ch.ID, ct.ID)
			if err != nil {
				return err
			}
			convs[i], contacts[i] = conv.ID, ct.ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The reply row carries what the pipeline's does: meta with the
	// decision and usage.
	meta, _ := json.Marshal(assistants.Meta{Provider: "openai", Model: "fake", Usage: llm.Usage{InputTokens: fake.DefaultInputTokens, OutputTokens: fake.DefaultOutputTokens}, Language: "en", Decision: "answered"})

	res := &baselineResult{window: o.duration, rowsPerIter: 3, transactsPerIt: 2}
	iteration := func(i, n int) error {
		var in store.Message
		err := st.Write(ctx, scope, func(tx *store.Tx) error {
			m, err := tx.AppendMessage(ctx, store.Message{ConversationID: convs[i], Role: "user", Text: questionText(i, n),
				ClientID: fmt.Sprintf("v%d-%d", i, n), AuthorID: contacts[i]})
			if err != nil {
				return err
			}
			in = m
			return q.EnqueueReplies(ctx, tx, []conversations.ReplyRequest{{Message: m, RequestID: "bench"}})
		})
		if err != nil {
			return fmt.Errorf("inbound: %w", err)
		}
		err = st.Write(ctx, scope, func(tx *store.Tx) error {
			_, err := tx.AppendMessage(ctx, store.Message{ConversationID: convs[i], ReplyTo: in.ID, Role: "assistant", Text: fake.DefaultText,
				Meta: meta})
			return err
		})
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		return nil
	}

	// Warm-up: one unmeasured iteration per worker, as the pipeline's
	// visitors each make one unmeasured exchange.
	var wg sync.WaitGroup
	for i := range o.visitors {
		wg.Go(func() {
			if err := iteration(i, 1); err != nil {
				res.errs.add("warm-up " + err.Error())
			}
		})
	}
	wg.Wait()
	res.warm = o.visitors
	if o.dialect == "postgres" {
		if err := analyzeSchema(ctx, st.MigratorDB()); err != nil {
			return nil, err
		}
	}

	benchkit.Progress("baseline: %d writers for %s", o.visitors, o.duration)
	var statsDB *sql.DB
	if o.dialect == "postgres" {
		statsDB = st.MigratorDB()
	}
	var lat latencies
	var iters atomic.Int64
	s0, pg0 := st.DB().Stats(), pgStats(statsDB)
	cpu0, db0, pr0, m0 := benchkit.SelfCPU(), benchkit.ProcsCPU("postgres"), pressure("cpu"), benchkit.MachineBusy()
	start := time.Now()
	end := start.Add(o.duration)
	var cpu1, db1, pr1, m1 time.Duration
	var s1 sql.DBStats
	var pg1 map[string]float64
	endDone := make(chan struct{})
	time.AfterFunc(o.duration, func() {
		cpu1, db1, s1, pr1, m1 = benchkit.SelfCPU(), benchkit.ProcsCPU("postgres"), st.DB().Stats(), pressure("cpu"), benchkit.MachineBusy()
		pg1 = pgStats(statsDB)
		close(endDone)
	})
	for i := range o.visitors {
		wg.Go(func() {
			for n := 2; time.Now().Before(end); n++ {
				t0 := time.Now()
				if err := iteration(i, n); err != nil {
					res.errs.add(err.Error())
					continue
				}
				if t1 := time.Now(); !t1.After(end) {
					iters.Add(1)
					lat.add(t1.Sub(t0))
				}
			}
		})
	}
	wg.Wait()
	<-endDone
	res.iters = int(iters.Load())
	res.lat = lat.summary()
	res.cpu = cpu1 - cpu0
	if o.dialect == "postgres" {
		res.dbCPU = db1 - db0
	}
	res.pg, res.cpuPressure, res.machine = diff(pg0, pg1), pr1-pr0, m1-m0
	res.waits, res.waitTime, res.maxOpen = s1.WaitCount-s0.WaitCount, s1.WaitDuration-s0.WaitDuration, s1.MaxOpenConnections
	benchkit.Progress("baseline: %d iterations (%.0f/s), %d errors", res.iters, float64(res.iters)/o.duration.Seconds(), res.errs.total())
	closeStore()
	dropSchema()
	return res, nil
}

// questionText is a visitor's message: no handoff keyword (human, agent,
// person, operator), so every message goes to the model.
func questionText(visitor, n int) string {
	return fmt.Sprintf("Hello! What are your opening hours on Saturday? (visitor %d, question %d)", visitor, n)
}

// ---------------------------------------------------------------------------
// Client

type client struct {
	base   string // http://host:port
	wsURL  string
	apiKey string
	httpc  *http.Client // sessions and the tenant API (keep-alive)
	wsc    *http.Client // WebSocket handshakes
}

func newClient(base string) *client {
	tr := &http.Transport{Proxy: nil, MaxIdleConns: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 90 * time.Second,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	wtr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	return &client{base: base, wsURL: "ws" + strings.TrimPrefix(base, "http") + "/api/v1/widget/ws",
		httpc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, wsc: &http.Client{Transport: wtr}}
}

func (cl *client) do(ctx context.Context, method, path, key string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, cl.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := cl.httpc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return res.StatusCode, b, err
}

// create POSTs a tenant API object and returns one string field of the answer.
func (cl *client) create(ctx context.Context, path string, body any, field string) (string, error) {
	b, _ := json.Marshal(body)
	st, out, err := cl.do(ctx, "POST", path, cl.apiKey, b)
	if err != nil || st != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %d %v %s", path, st, err, trim(out))
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("POST %s: %w", path, err)
	}
	s, _ := m[field].(string)
	if s == "" {
		return "", fmt.Errorf("POST %s: no %s in %s", path, field, trim(out))
	}
	return s, nil
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func waitReady(cl *client) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, b, err := cl.do(ctx, "GET", "/readyz", "", nil)
		cancel()
		if err == nil && st == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after 60s: %d %v %s", st, err, trim(b))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// frame is what a visitor's reader passes on from one server frame.
type frame struct {
	typ, role, clientID, code string
	seq                       int64
	at                        time.Time
	err                       error // the connection ended
}

// visitor is one widget WebSocket, driven by one goroutine at a time.
type visitor struct {
	idx     int
	c       *websocket.Conn
	frames  chan frame
	quit    chan struct{}
	done    chan struct{} // closed when the reader ends
	closing atomic.Bool
}

// open starts one visitor: session, WebSocket, hello, ready.
func (cl *client) open(ctx context.Context, pk string, idx int) (*visitor, error) {
	body, _ := json.Marshal(map[string]string{"public_key": pk})
	st, b, err := cl.do(ctx, "POST", "/api/v1/widget/sessions", "", body)
	if err != nil || st != http.StatusOK {
		return nil, fmt.Errorf("session: %d %v %s", st, err, trim(b))
	}
	var sa struct {
		VisitorToken string `json:"visitor_token"`
	}
	if err := json.Unmarshal(b, &sa); err != nil || sa.VisitorToken == "" {
		return nil, fmt.Errorf("session: bad answer %s", trim(b))
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, cl.wsURL, &websocket.DialOptions{HTTPClient: cl.wsc, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.SetReadLimit(1 << 20)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "token": sa.VisitorToken, "after_seq": 0})
	if err := c.Write(dctx, websocket.MessageText, hello); err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("hello: %w", err)
	}
	_, b, err = c.Read(dctx)
	if err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("waiting for ready: %w", err)
	}
	var f struct{ Type string }
	_ = json.Unmarshal(b, &f)
	if f.Type != "ready" {
		c.CloseNow()
		return nil, fmt.Errorf("first frame is not ready: %s", trim(b))
	}
	v := &visitor{idx: idx, c: c, frames: make(chan frame, 256), quit: make(chan struct{}), done: make(chan struct{})}
	go v.read()
	return v, nil
}

// read passes the server's frames on until the connection ends.
func (v *visitor) read() {
	defer close(v.done)
	for {
		_, b, err := v.c.Read(context.Background())
		now := time.Now()
		if err != nil {
			if !v.closing.Load() {
				select {
				case v.frames <- frame{typ: "closed", err: err, at: now}:
				case <-v.quit:
				}
			}
			return
		}
		var f struct {
			Type     string `json:"type"`
			Seq      int64  `json:"seq"`
			Code     string `json:"code"`
			ClientID string `json:"client_id"`
			Message  struct {
				Role     string `json:"role"`
				ClientID string `json:"client_id"`
			} `json:"message"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			f.Type = "unparsable"
		}
		fr := frame{typ: f.Type, role: f.Message.Role, clientID: f.Message.ClientID, code: f.Code, seq: f.Seq, at: now}
		if f.Type == "error" {
			fr.clientID = f.ClientID
		}
		select {
		case v.frames <- fr:
		case <-v.quit:
			return
		}
	}
}

// exchange is one message and the wait for its reply.
type exchange struct {
	ok         bool
	fail       string // why not
	fatal      bool   // the connection is gone
	t0, at     time.Time
	reply      time.Duration // send → the assistant's message on the socket
	stored     time.Duration // send → the visitor's own message back (stored, published)
	firstDelta time.Duration // send → the first streamed piece (0: none seen)
}

// exchange sends message n and waits for the assistant's reply: the first
// assistant message with a seq after the visitor's own message's. Frames
// on one socket arrive in seq order (the widget fills gaps from the store),
// so the own message always comes first.
func (v *visitor) exchange(n int, timeout time.Duration) exchange {
	id := fmt.Sprintf("v%d-%d", v.idx, n)
	b, _ := json.Marshal(map[string]string{"type": "message", "client_id": id, "text": questionText(v.idx, n)})
	x := exchange{t0: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := v.c.Write(ctx, websocket.MessageText, b)
	cancel()
	if err != nil {
		x.fail, x.fatal = "send: "+err.Error(), true
		return x
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var ownSeq int64
	for {
		select {
		case <-t.C:
			x.fail = fmt.Sprintf("no reply within %s", timeout)
			if ownSeq == 0 {
				x.fail = fmt.Sprintf("own message not back within %s", timeout)
			}
			return x
		case f := <-v.frames:
			switch f.typ {
			case "closed":
				reason := "connection lost: " + f.err.Error()
				if s := websocket.CloseStatus(f.err); s != -1 {
					reason = "connection closed by the server: " + s.String()
				}
				x.fail, x.fatal = reason, true
				return x
			case "error":
				if f.clientID == "" || f.clientID == id {
					x.fail = "error frame: " + f.code
					return x
				}
			case "message":
				switch {
				case f.role == "user" && f.clientID == id:
					ownSeq, x.stored = f.seq, f.at.Sub(x.t0)
				case f.role == "assistant" && ownSeq > 0 && f.seq > ownSeq:
					x.ok, x.at, x.reply = true, f.at, f.at.Sub(x.t0)
					return x
				}
			case "delta":
				if ownSeq > 0 && x.firstDelta == 0 {
					x.firstDelta = f.at.Sub(x.t0)
				}
			}
		}
	}
}

func (v *visitor) close() {
	v.closing.Store(true)
	close(v.quit)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		<-ctx.Done()
		v.c.CloseNow()
	}()
	_ = v.c.Close(websocket.StatusNormalClosure, "")
	select {
	case <-v.done:
	case <-ctx.Done():
	}
}

// ---------------------------------------------------------------------------
// The pipeline: one server, one phase per model

type phaseResult struct {
	name       string // openai | extractive
	label      string
	held       int
	openErrs   errCount
	warmTime   time.Duration
	warmErrs   errCount
	start, end time.Time
	window     time.Duration
	inWindow   int // replies that arrived within the window
	drained    int // replies to messages sent in the window that arrived after it
	started    int // exchanges started in the window
	reply      latencies
	stored     latencies
	delta      latencies
	perSec     *perSecond
	errs       errCount
	lost       int

	serverCPU, modelCPU, clientCPU, dbCPU time.Duration
	pool                                  map[string]float64 // go_sql_* counters: change over the window
	metrics0, metrics1                    map[string]float64 // /metrics at the start and the end of the window
	inUseAvg, maxOpen                     float64            // the store pool, sampled every 250 ms
	inUseSamples                          int
	model0, model1                        fakeStats
	cpuPressure, ioPressure               time.Duration
	machine                               time.Duration      // every process on the machine
	pg                                    map[string]float64 // pg_stat_database: change over the window
	jobs                                  *jobAnalysis
}

type metachatResult struct {
	phases []*phaseResult
	logs   *logSummary
	dbNote string // why the job analysis is missing, if it is
}

func runMetachat(ctx context.Context, o options, cl0 *benchkit.Cleanup, tmp string) (*metachatResult, error) {
	benchkit.Progress("metachat: starting the fake model")
	fk, err := startChild("fake", childEnv(map[string]string{modelDelayEnv: o.modelDelay.String()}), filepath.Join(tmp, "fake.log"))
	if err != nil {
		return nil, err
	}
	cl0.Add(func() { fk.stop(10 * time.Second) })

	env := map[string]string{
		"METACHAT_ADDR":                "127.0.0.1:0",
		"METACHAT_DATA_DIR":            filepath.Join(tmp, "data"),
		"METACHAT_RATE_LIMIT_IP":       "1000000",
		"METACHAT_RATE_LIMIT_KEY":      "1000000",
		"METACHAT_WIDGET_SESSION_RATE": "1000000",
		"METACHAT_WIDGET_MESSAGE_RATE": "1000000",
		"METACHAT_LOG_FORMAT":          "json",
		"METACHAT_LOG_LEVEL":           "info",
		"METACHAT_LLM_PROVIDER":        "openai",
		"METACHAT_LLM_BASE_URL":        fk.url + "/v1",
		"METACHAT_LLM_MODEL":           "fake",
		"METACHAT_LLM_API_KEY":         "x",
	}
	dbURL := ""
	if o.dialect == "postgres" {
		u, drop, err := createSchema(o.pgURL, "repliesbench_")
		if err != nil {
			return nil, err
		}
		cl0.Add(drop)
		env["DATABASE_URL"], dbURL = u, u
	}
	// The tenant, as an operator would make it: `metachat tenant create`.
	var out, errb bytes.Buffer
	code := cli.Run(ctx, []string{"tenant", "create", "--name", "replies-bench", "--json"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	if code != 0 {
		return nil, fmt.Errorf("tenant create: %s", strings.TrimSpace(errb.String()))
	}
	var tc struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &tc); err != nil || tc.APIKey == "" {
		return nil, fmt.Errorf("tenant create printed %q", out.String())
	}
	benchkit.Progress("metachat: starting the server")
	srv, err := startChild("serve", childEnv(env), filepath.Join(tmp, "metachat.log"))
	if err != nil {
		return nil, err
	}
	cl0.Add(func() { srv.stop(30 * time.Second) })
	cl := newClient(srv.url)
	cl.apiKey = tc.APIKey
	if err := waitReady(cl); err != nil {
		return nil, err
	}
	benchkit.Progress("metachat: server at %s (pid %d), fake model at %s (pid %d)", srv.url, srv.cmd.Process.Pid, fk.url, fk.cmd.Process.Pid)

	type model struct{ name, label, pk string }
	var models []model
	for _, m := range []struct {
		name, label string
		settings    map[string]any
	}{
		{"openai", "openai (fake)", map[string]any{"name": "Replies bench (server model)"}}, // the server's default: the fake
		{"extractive", "extractive", map[string]any{"name": "Replies bench (extractive)", "model": map[string]any{"provider": "extractive"}}},
	} {
		if o.models != "both" && o.models != m.name {
			continue
		}
		asst, err := cl.create(ctx, "/api/v1/assistants", m.settings, "id")
		if err != nil {
			return nil, err
		}
		pk, err := cl.create(ctx, "/api/v1/channels", map[string]any{"type": "web", "name": "replies bench " + m.name, "assistant_id": asst,
			"config": map[string]any{"allowed_origins": []string{}}}, "public_key")
		if err != nil {
			return nil, err
		}
		models = append(models, model{m.name, m.label, pk})
	}

	var statsDB *sql.DB
	if o.dialect == "postgres" {
		if statsDB, err = sql.Open("pgx", dbURL); err != nil {
			return nil, err
		}
		defer statsDB.Close()
		statsDB.SetMaxOpenConns(1)
	}
	res := &metachatResult{}
	for _, m := range models {
		ph, err := runPhase(ctx, o, cl, srv, fk, statsDB, m.name, m.label, m.pk)
		if err != nil {
			return nil, err
		}
		res.phases = append(res.phases, ph)
	}

	benchkit.Progress("metachat: stopping the server")
	srv.stop(30 * time.Second)
	fk.stop(10 * time.Second)
	cl.httpc.CloseIdleConnections()
	res.logs = summariseLog(srv.logPath)

	// With the server gone, read back what River and the store recorded:
	// when each job was inserted, fetched, and its reply stored.
	var db *sql.DB
	if o.dialect == "sqlite" {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(tmp, "data", "metachat.db")+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("pgx", dbURL)
	}
	if err == nil {
		err = analyseJobs(ctx, db, o.dialect, res.phases)
		db.Close()
	}
	if err != nil {
		res.dbNote = err.Error()
		fmt.Fprintln(os.Stderr, "replies bench: job analysis:", err)
	}
	return res, nil
}

func runPhase(ctx context.Context, o options, cl *client, srv, fk *child, statsDB *sql.DB, name, label, pk string) (*phaseResult, error) {
	ph := &phaseResult{name: name, label: label, window: o.duration}
	benchkit.Progress("%s: opening %d visitors", label, o.visitors)
	vs := make([]*visitor, o.visitors)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(32, o.visitors) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(vs) || ph.openErrs.total() > max(20, o.visitors/10) {
					return
				}
				octx, cancel := context.WithTimeout(ctx, 30*time.Second)
				v, err := cl.open(octx, pk, i)
				cancel()
				if err != nil {
					ph.openErrs.add(err.Error())
					continue
				}
				vs[i] = v
			}
		})
	}
	wg.Wait()
	vs = slices.DeleteFunc(vs, func(v *visitor) bool { return v == nil })
	ph.held = len(vs)
	defer func() {
		var cw sync.WaitGroup
		for _, v := range vs {
			cw.Go(v.close)
		}
		cw.Wait()
	}()
	if len(vs) == 0 {
		return nil, fmt.Errorf("%s: no visitor connected: %v", label, ph.openErrs.top(3))
	}

	// Warm-up: every visitor's first exchange creates its contact and
	// conversation; it is not measured.
	benchkit.Progress("%s: warm-up: one exchange per visitor (creates the conversations)", label)
	alive := make([]bool, len(vs))
	t0 := time.Now()
	for i, v := range vs {
		wg.Go(func() {
			x := v.exchange(1, o.replyTimeout)
			if !x.ok {
				ph.warmErrs.add(x.fail)
			}
			alive[i] = !x.fatal
		})
	}
	wg.Wait()
	ph.warmTime = time.Since(t0)
	time.Sleep(300 * time.Millisecond) // let River's completer settle the warm-up jobs
	if err := analyzeSchema(ctx, statsDB); err != nil {
		return nil, err
	}

	// The measured window.
	benchkit.Progress("%s: %d visitors in a closed loop for %s", label, len(vs), o.duration)
	if o.profile != "" {
		_ = os.MkdirAll(o.profile, 0o755)
		abs, _ := filepath.Abs(filepath.Join(o.profile, fmt.Sprintf("server-cpu-%s-%s.pb.gz", o.dialect, name)))
		if _, err := srv.ctl("cpu " + abs); err != nil {
			fmt.Fprintln(os.Stderr, "replies bench: profile:", err)
		}
	}
	pool0 := scrapeMetrics(cl)
	ph.model0 = fk.fakeStats()
	pg0 := pgStats(statsDB)
	cpuS0, cpuM0, cpuC0, cpuD0 := srv.cpu(), fk.cpu(), benchkit.SelfCPU(), benchkit.ProcsCPU("postgres")
	pr0, io0, mb0 := pressure("cpu"), pressure("io"), benchkit.MachineBusy()
	ph.start = time.Now()
	ph.end = ph.start.Add(o.duration)
	ph.perSec = newPerSecond(ph.start, o.duration)

	// At the end of the window: CPU, counters and the pool sampler stop.
	sampleStop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleStop:
				return
			case <-t.C:
				if m := scrapeMetrics(cl); m != nil {
					ph.inUseAvg += m["go_sql_in_use_connections"]
					ph.maxOpen = m["go_sql_max_open_connections"]
					ph.inUseSamples++
				}
			}
		}
	})
	var pool1 map[string]float64
	endDone := make(chan struct{})
	time.AfterFunc(o.duration, func() {
		defer close(endDone)
		ph.serverCPU, ph.modelCPU, ph.clientCPU = srv.cpu()-cpuS0, fk.cpu()-cpuM0, benchkit.SelfCPU()-cpuC0
		ph.cpuPressure, ph.ioPressure, ph.machine = pressure("cpu")-pr0, pressure("io")-io0, benchkit.MachineBusy()-mb0
		if o.dialect == "postgres" {
			ph.dbCPU = benchkit.ProcsCPU("postgres") - cpuD0
		}
		close(sampleStop)
		pool1 = scrapeMetrics(cl)
		ph.model1 = fk.fakeStats()
		ph.pg = diff(pg0, pgStats(statsDB))
	})

	var inWindow, drained, started, lost atomic.Int64
	for i, v := range vs {
		if !alive[i] {
			lost.Add(1)
			continue
		}
		wg.Go(func() {
			for n := 2; time.Now().Before(ph.end); n++ {
				started.Add(1)
				x := v.exchange(n, o.replyTimeout)
				if !x.ok {
					ph.errs.add(x.fail)
					if x.fatal {
						lost.Add(1)
						return
					}
					continue
				}
				ph.reply.add(x.reply)
				ph.stored.add(x.stored)
				if x.firstDelta > 0 {
					ph.delta.add(x.firstDelta)
				}
				if x.at.After(ph.end) {
					drained.Add(1)
				} else {
					inWindow.Add(1)
					ph.perSec.add(x.at)
				}
			}
		})
	}
	wg.Wait()
	<-endDone
	sampler.Wait()
	if o.profile != "" {
		_, _ = srv.ctl("cpustop")
	}
	ph.inWindow, ph.drained, ph.started, ph.lost = int(inWindow.Load()), int(drained.Load()), int(started.Load()), int(lost.Load())
	if ph.inUseSamples > 0 {
		ph.inUseAvg /= float64(ph.inUseSamples)
	}
	ph.metrics0, ph.metrics1 = pool0, pool1
	if pool0 != nil && pool1 != nil {
		ph.pool = map[string]float64{}
		for k, v := range pool1 {
			ph.pool[k] = v - pool0[k]
		}
	}
	benchkit.Progress("%s: %d replies in the window (%.0f/s), %d more after it, %d errors", label, ph.inWindow, float64(ph.inWindow)/o.duration.Seconds(), ph.drained, ph.errs.total())
	return ph, nil
}

// scrapeMetrics reads the store pool's go_sql_* series, the goroutine
// count and the open descriptors from /metrics.
func scrapeMetrics(cl *client) map[string]float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, b, err := cl.do(ctx, "GET", "/metrics", "", nil)
	if err != nil || st != http.StatusOK {
		return nil
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "go_sql_") && !strings.HasPrefix(line, "go_goroutines ") && !strings.HasPrefix(line, "process_open_fds ") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		name, _, _ := strings.Cut(f[0], "{")
		v, err := strconv.ParseFloat(f[1], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Where the time goes: River's and the store's own timestamps

// jobAnalysis splits the exchanges of one window by the rows they left.
type jobAnalysis struct {
	jobs      int           // reply jobs whose inbound message was stored in the window
	retried   int           // attempt > 1
	unfetched int           // never attempted
	noReply   int           // attempted, no reply row
	queueWait summary       // inbound stored → job fetched
	work      summary       // job fetched → reply transaction started
	fetches   int           // distinct fetch times (jobs locked by one fetch share it)
	perFetch  float64       // jobs per fetch, mean
	maxFetch  int           // jobs per fetch, highest
	fullFetch int           // fetches that locked as many jobs as there are workers
	gap       summary       // time between consecutive fetches that locked jobs
	resolve   time.Duration // resolution of River's timestamps
}

// analyseJobs reads every reply job with its inbound message and reply.
// Times: messages.created_at is the writing transaction's start (µs);
// river_job.attempted_at is the fetch's time (PostgreSQL: the fetching
// transaction's now(), shared by every job it locks; SQLite: the same,
// to the millisecond).
func analyseJobs(ctx context.Context, db *sql.DB, dialect string, phases []*phaseResult) error {
	q := `SELECT u.created_at, CAST(ROUND((julianday(j.attempted_at) - 2440587.5) * 86400000000.0) AS INTEGER), COALESCE(r.created_at, 0), j.attempt
FROM river_job j
JOIN messages u ON u.tenant_id = json_extract(j.args, '$.tenant_id') AND u.id = json_extract(j.args, '$.message_id')
LEFT JOIN messages r ON r.tenant_id = u.tenant_id AND r.reply_to = u.id
WHERE j.kind = 'reply'`
	res := time.Millisecond
	if dialect == "postgres" {
		q = `SELECT u.created_at, (extract(epoch FROM j.attempted_at) * 1000000)::bigint, COALESCE(r.created_at, 0), j.attempt
FROM river_job j
JOIN messages u ON u.tenant_id = (j.args->>'tenant_id')::uuid AND u.id = (j.args->>'message_id')::uuid
LEFT JOIN messages r ON r.tenant_id = u.tenant_id AND r.reply_to = u.id
WHERE j.kind = 'reply'`
		res = time.Microsecond
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	type row struct {
		in, fetched, reply int64 // µs since the epoch; 0: none
		attempt            int
	}
	var all []row
	for rows.Next() {
		var r row
		var fetched sql.NullInt64
		if err := rows.Scan(&r.in, &fetched, &r.reply, &r.attempt); err != nil {
			return err
		}
		r.fetched = fetched.Int64
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ph := range phases {
		a := &jobAnalysis{resolve: res}
		lo, hi := ph.start.UnixMicro(), ph.end.UnixMicro()
		var wait, work []time.Duration
		perFetch := map[int64]int{}
		for _, r := range all {
			if r.in < lo || r.in > hi {
				continue
			}
			a.jobs++
			if r.attempt > 1 {
				a.retried++
			}
			if r.fetched == 0 {
				a.unfetched++
				continue
			}
			perFetch[r.fetched]++
			wait = append(wait, time.Duration(r.fetched-r.in)*time.Microsecond)
			if r.reply == 0 {
				a.noReply++
				continue
			}
			work = append(work, time.Duration(r.reply-r.fetched)*time.Microsecond)
		}
		a.queueWait, a.work = summarise(wait), summarise(work)
		a.fetches = len(perFetch)
		times := make([]int64, 0, len(perFetch))
		for t, n := range perFetch {
			times = append(times, t)
			a.maxFetch = max(a.maxFetch, n)
			if n >= riverWorkers {
				a.fullFetch++
			}
		}
		if a.fetches > 0 {
			a.perFetch = float64(len(wait)) / float64(a.fetches)
		}
		slices.Sort(times)
		var gaps []time.Duration
		for i := 1; i < len(times); i++ {
			gaps = append(gaps, time.Duration(times[i]-times[i-1])*time.Microsecond)
		}
		a.gap = summarise(gaps)
		ph.jobs = a
	}
	return nil
}

// ---------------------------------------------------------------------------
// Server log

// logSummary counts the server's log lines worth a look.
type logSummary struct {
	lines    int
	byStatus map[string]int // access log: status class
	problems errCount       // WARN and ERROR by message
}

func summariseLog(path string) *logSummary {
	s := &logSummary{byStatus: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return s
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		s.lines++
		var l struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Status int    `json:"status"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			s.problems.add("unparsed: " + sc.Text())
			continue
		}
		if l.Msg == "request" {
			s.byStatus[strconv.Itoa(l.Status/100)+"xx"]++
		}
		if l.Level == "WARN" || l.Level == "ERROR" {
			m := l.Level + " " + l.Msg
			if l.Error != "" {
				m += ": " + l.Error
			}
			s.problems.add(m)
		}
	}
	return s
}

// ---------------------------------------------------------------------------
// Report

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func cores(d, over time.Duration) string {
	if over <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", d.Seconds()/over.Seconds())
}

// share is a stall time as a percentage of the window.
func share(d, over time.Duration) string {
	if d < 0 || over <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*d.Seconds()/over.Seconds())
}

func perReply(cpu time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f µs", float64(cpu.Microseconds())/float64(n))
}

func (ph *phaseResult) rate() float64 { return float64(ph.inWindow) / ph.window.Seconds() }

func report(w io.Writer, o options, base *baselineResult, mc *metachatResult, total time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	cols := len(mc.phases)
	row := func(name string, vals ...string) {
		line := fmt.Sprintf("  %-52s", name)
		for _, v := range vals {
			line += fmt.Sprintf(" %22s", v)
		}
		p("%s", strings.TrimRight(line, " "))
	}
	each := func(f func(*phaseResult) string) []string {
		out := make([]string, 0, cols)
		for _, ph := range mc.phases {
			out = append(out, f(ph))
		}
		return out
	}
	baseRate := 0.0
	if base != nil {
		baseRate = float64(base.iters) / base.window.Seconds()
	}

	p("")
	p("metachat reply pipeline benchmark — %s, %d visitors in a closed loop, %s per window", o.dialect, o.visitors, o.duration)
	p("  machine: %d CPUs, %s %s/%s", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	p("  server: child process calling cli.Run serve (River: %d workers, FetchCooldown %s, FetchPollInterval %s, poll only)", riverWorkers, riverCooldown, riverPollInterval)
	latency := "zero latency"
	if o.modelDelay > 0 {
		latency = "answers after " + o.modelDelay.String()
	}
	p("  model: openai = internal/llm/fake in its own child (%s, %q in %d deltas); extractive = built in, no knowledge → fallback text", latency, fake.DefaultText, fake.DefaultDeltas)
	p("")
	labels := each(func(ph *phaseResult) string { return ph.label })
	row("", labels...)
	row("visitors connected", each(func(ph *phaseResult) string { return fmt.Sprintf("%d/%d", ph.held, o.visitors) })...)
	row("warm-up (one exchange each, not measured)", each(func(ph *phaseResult) string {
		return fmt.Sprintf("%.2f s, %d err", ph.warmTime.Seconds(), ph.warmErrs.total())
	})...)
	row("REPLIES PER SECOND (delivered in the window)", each(func(ph *phaseResult) string { return fmt.Sprintf("%.0f /s", ph.rate()) })...)
	row("  replies in the window / after it (drain)", each(func(ph *phaseResult) string { return fmt.Sprintf("%d / %d", ph.inWindow, ph.drained) })...)
	row("  per-second replies: lowest / median / highest", each(func(ph *phaseResult) string {
		lo, med, hi := ph.perSec.spread(ph.window)
		return fmt.Sprintf("%d / %d / %d", lo, med, hi)
	})...)
	if base != nil {
		row("  ratio to the store baseline", each(func(ph *phaseResult) string { return ratio(ph.rate(), baseRate) })...)
	}
	row("reply latency (send → assistant message) p50", each(func(ph *phaseResult) string { return ms(ph.reply.summary().p50) })...)
	row("  p90", each(func(ph *phaseResult) string { return ms(ph.reply.summary().p90) })...)
	row("  p99", each(func(ph *phaseResult) string { return ms(ph.reply.summary().p99) })...)
	row("  max", each(func(ph *phaseResult) string { return ms(ph.reply.summary().max) })...)
	row("  mean", each(func(ph *phaseResult) string { return ms(ph.reply.summary().avg) })...)
	row("own message back (stored, published) p50 / p99", each(func(ph *phaseResult) string {
		s := ph.stored.summary()
		return ms(s.p50) + " / " + ms(s.p99)
	})...)
	row("first delta p50 / p99", each(func(ph *phaseResult) string {
		s := ph.delta.summary()
		if s.n == 0 {
			return "— (none)"
		}
		return ms(s.p50) + " / " + ms(s.p99)
	})...)
	row("ERRORS (timeouts, error frames, sends)", each(func(ph *phaseResult) string {
		return strconv.Itoa(ph.errs.total() + ph.warmErrs.total() + ph.openErrs.total())
	})...)
	row("  connections lost", each(func(ph *phaseResult) string { return strconv.Itoa(ph.lost) })...)
	p("  CPU in the window (cores of %d)", runtime.NumCPU())
	row("  server", each(func(ph *phaseResult) string { return cores(ph.serverCPU, ph.window) })...)
	row("  fake model", each(func(ph *phaseResult) string { return cores(ph.modelCPU, ph.window) })...)
	row("  client (this process)", each(func(ph *phaseResult) string { return cores(ph.clientCPU, ph.window) })...)
	if o.dialect == "postgres" {
		row("  PostgreSQL (all local postgres processes)", each(func(ph *phaseResult) string { return cores(ph.dbCPU, ph.window) })...)
	}
	row("  all together", each(func(ph *phaseResult) string {
		return cores(ph.serverCPU+ph.modelCPU+ph.clientCPU+ph.dbCPU, ph.window)
	})...)
	row("  whole machine busy / of which outside the benchmark", each(func(ph *phaseResult) string {
		other := max(0, ph.machine-ph.serverCPU-ph.modelCPU-ph.clientCPU-ph.dbCPU)
		return cores(ph.machine, ph.window) + " / " + cores(other, ph.window)
	})...)
	row("  pressure: some task waiting for a CPU / for I/O", each(func(ph *phaseResult) string {
		return fmt.Sprintf("%s / %s", share(ph.cpuPressure, ph.window), share(ph.ioPressure, ph.window))
	})...)
	row("  server CPU per reply", each(func(ph *phaseResult) string { return perReply(ph.serverCPU, ph.inWindow) })...)
	if o.dialect == "postgres" {
		row("  PostgreSQL CPU per reply", each(func(ph *phaseResult) string { return perReply(ph.dbCPU, ph.inWindow) })...)
	}
	poolName := "store pool (PostgreSQL, shared)"
	if o.dialect == "sqlite" {
		poolName = "SQLite writer (1 connection)"
	}
	p("  %s, from /metrics", poolName)
	row("  waits for a connection: count / total", each(func(ph *phaseResult) string {
		if ph.pool == nil {
			return "—"
		}
		return fmt.Sprintf("%.0f / %.1f s", ph.pool["go_sql_wait_count_total"], ph.pool["go_sql_wait_duration_seconds_total"])
	})...)
	row("  connections in use: mean of samples / max open", each(func(ph *phaseResult) string {
		return fmt.Sprintf("%.2f / %.0f", ph.inUseAvg, ph.maxOpen)
	})...)
	row("  held per reply (mean in use × window ÷ replies)", each(func(ph *phaseResult) string {
		if ph.inWindow == 0 {
			return "—"
		}
		return ms(time.Duration(ph.inUseAvg * float64(ph.window) / float64(ph.inWindow)))
	})...)
	if o.dialect == "postgres" {
		row("PostgreSQL per reply: transactions / rows inserted / updated", each(func(ph *phaseResult) string {
			if ph.pg == nil || ph.inWindow == 0 {
				return "—"
			}
			n := float64(ph.inWindow)
			return fmt.Sprintf("%.1f / %.1f / %.1f", ph.pg["xacts"]/n, ph.pg["inserted"]/n, ph.pg["updated"]/n)
		})...)
	}
	row("server goroutines: window start → end", each(func(ph *phaseResult) string {
		if ph.metrics0 == nil || ph.metrics1 == nil {
			return "—"
		}
		return fmt.Sprintf("%.0f → %.0f", ph.metrics0["go_goroutines"], ph.metrics1["go_goroutines"])
	})...)
	row("server open descriptors: window start → end", each(func(ph *phaseResult) string {
		if ph.metrics0 == nil || ph.metrics1 == nil {
			return "—"
		}
		return fmt.Sprintf("%.0f → %.0f", ph.metrics0["process_open_fds"], ph.metrics1["process_open_fds"])
	})...)
	row("model HTTP: requests / new TCP connections", each(func(ph *phaseResult) string {
		if ph.name != "openai" {
			return "— (no HTTP)"
		}
		return fmt.Sprintf("%d / %d", ph.model1.Calls-ph.model0.Calls, ph.model1.Conns-ph.model0.Conns)
	})...)
	p("  where the time goes (River's and the store's timestamps; exchanges whose message was stored in the window)")
	jrow := func(name string, f func(*jobAnalysis) string) {
		row(name, each(func(ph *phaseResult) string {
			if ph.jobs == nil {
				return "—"
			}
			return f(ph.jobs)
		})...)
	}
	jrow("  reply jobs / retried / never fetched / no reply", func(a *jobAnalysis) string {
		return fmt.Sprintf("%d / %d / %d / %d", a.jobs, a.retried, a.unfetched, a.noReply)
	})
	jrow("  queue: message stored → job fetched p50 / p99", func(a *jobAnalysis) string { return ms(a.queueWait.p50) + " / " + ms(a.queueWait.p99) })
	jrow("    mean", func(a *jobAnalysis) string { return ms(a.queueWait.avg) })
	jrow("  work: job fetched → reply write begins p50 / p99", func(a *jobAnalysis) string { return ms(a.work.p50) + " / " + ms(a.work.p99) })
	jrow("    mean", func(a *jobAnalysis) string { return ms(a.work.avg) })
	jrow("  fetches that locked jobs / jobs per fetch mean / max", func(a *jobAnalysis) string {
		return fmt.Sprintf("%d / %.1f / %d", a.fetches, a.perFetch, a.maxFetch)
	})
	jrow(fmt.Sprintf("  fetches full (%d jobs = all workers)", riverWorkers), func(a *jobAnalysis) string { return strconv.Itoa(a.fullFetch) })
	jrow("  time between fetches p50 / p90", func(a *jobAnalysis) string { return ms(a.gap.p50) + " / " + ms(a.gap.p90) })
	jrow("  ceiling: workers ÷ mean(work) (jobs/s)", func(a *jobAnalysis) string {
		if a.work.avg <= 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f /s", float64(riverWorkers)/a.work.avg.Seconds())
	})
	if mc.dbNote != "" {
		p("    (job analysis failed: %s)", mc.dbNote)
	}

	if base != nil {
		p("")
		p("  store baseline: the same rows straight through internal/store on a fresh %s database, %d writers", o.dialect, o.visitors)
		p("    each iteration: tx 1 AppendMessage(user) + River InsertTx(reply job); tx 2 AppendMessage(assistant reply)")
		p("    iterations (reply-equivalents) in %s: %d → %.0f /s = %.0f rows/s (2 messages + 1 job each) in %.0f transactions/s",
			base.window, base.iters, baseRate, baseRate*float64(base.rowsPerIter), baseRate*float64(base.transactsPerIt))
		p("    iteration latency p50 %s p99 %s max %s; errors %d", ms(base.lat.p50), ms(base.lat.p99), ms(base.lat.max), base.errs.total())
		line := fmt.Sprintf("    CPU: this process %s cores", cores(base.cpu, base.window))
		if o.dialect == "postgres" {
			line += fmt.Sprintf(", PostgreSQL %s cores", cores(base.dbCPU, base.window))
		}
		line += fmt.Sprintf(", whole machine %s (other processes %s)", cores(base.machine, base.window), cores(max(0, base.machine-base.cpu-base.dbCPU), base.window))
		p("%s; CPU pressure %s; pool (max %d open): %d waits, %.1f s waited", line, share(base.cpuPressure, base.window), base.maxOpen, base.waits, base.waitTime.Seconds())
		if base.pg != nil && base.iters > 0 {
			n := float64(base.iters)
			p("    PostgreSQL per iteration: %.1f transactions, %.1f rows inserted, %.1f updated", base.pg["xacts"]/n, base.pg["inserted"]/n, base.pg["updated"]/n)
		}
	}

	p("")
	problems := func(label string, e *errCount) {
		if t := e.top(6); len(t) > 0 {
			p("  %s:", label)
			for _, s := range t {
				p("    %s", s)
			}
		}
	}
	for _, ph := range mc.phases {
		secs := make([]string, 0, len(ph.perSec.n))
		for i := range int(ph.window / time.Second) {
			secs = append(secs, strconv.FormatInt(ph.perSec.n[i].Load(), 10))
		}
		p("  %s replies in each second of the window: %s", ph.label, strings.Join(secs, " "))
	}
	for _, ph := range mc.phases {
		problems(ph.label+" open errors", &ph.openErrs)
		problems(ph.label+" warm-up errors", &ph.warmErrs)
		problems(ph.label+" errors", &ph.errs)
	}
	if base != nil {
		problems("baseline errors", &base.errs)
	}
	if mc.logs != nil {
		st := make([]string, 0, len(mc.logs.byStatus))
		for k, v := range mc.logs.byStatus {
			st = append(st, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(st)
		p("  server log: %d lines; access log statuses: %s", mc.logs.lines, strings.Join(st, ", "))
		problems("server log warnings and errors", &mc.logs.problems)
	}

	p("")
	target, what := 500.0, "≥ 500 replies/s on SQLite"
	if o.dialect == "postgres" {
		target, what = 1000, "≥ 1,000 replies/s on PostgreSQL"
	}
	for _, ph := range mc.phases {
		verdict := "MISS"
		if ph.rate() >= target {
			verdict = "PASS"
		}
		errs := ph.errs.total() + ph.warmErrs.total() + ph.openErrs.total()
		s := ph.reply.summary()
		extra := ""
		if base != nil {
			extra = fmt.Sprintf("; store baseline %s reply-equivalents/s (%s rows/s), ratio %s", benchkit.Commas(int(baseRate+0.5)), benchkit.Commas(int(baseRate*float64(base.rowsPerIter)+0.5)), ratio(ph.rate(), baseRate))
		}
		p("  target %s, %s: %s replies/s — %s [p50 %s, p99 %s, %d errors%s]", what, ph.label, benchkit.Commas(int(ph.rate()+0.5)), verdict, ms(s.p50), ms(s.p99), errs, extra)
	}
	p("  whole run: %.0f s", total.Seconds())
}
