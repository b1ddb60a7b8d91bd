// Command webhooks benchmarks WhatsApp webhook intake: how many signed
// notifications per second one metachat server fully accepts, and how long
// each takes to be answered.
//
// Fully accepted means what POST /webhooks/{channel_id} does before it
// answers 200: the X-Hub-Signature-256 HMAC-SHA256 over the raw body is
// checked with the channel's app secret, and the body is stored durably
// (deduplicated: a byte-identical resend still waiting is not stored
// again) with the River job that will process it, in one transaction that
// concurrent webhooks share (group commit). The server runs with
// --no-workers, so this measures acceptance, which ends at the job being
// enqueued.
//
// Then the bench runs `metachat worker` on the same database until every
// stored webhook is processed — the contact upserted, the conversation
// found or opened, the message stored once per wamid with its reply job —
// reports that drain rate, and checks the rows.
//
// Each notification is a metafake.WhatsAppText body with a fresh wamid,
// from one of -senders phone numbers (so contacts and conversations are
// reused, as in real traffic), signed with metafake.Sign. About -dup of
// the requests resend, byte for byte, a notification the server already
// answered 200 (Meta redelivers): they must be answered 200 and not stored
// again, which the bench checks at the end by counting rows.
//
// The baseline, measured in the same run with the same client, concurrency
// and bodies, is a bare handler in its own child process: it reads the
// body, checks the HMAC with crypto/hmac and answers 200.
//
// Phases per dialect: (1) the server in a closed loop, -concurrency
// workers for -duration; (2) the bare handler the same way; (3) the server
// in an open loop at -rate notifications per second for -duration
// (latency counted from each request's scheduled time).
//
// The server runs as a child process of this program (it re-executes
// itself with a hidden first argument): that child calls
// cli.Run("serve --no-workers") and is wired exactly as `metachat serve`.
//
// Usage (see README.md):
//
//	go run ./bench/webhooks [-dialect sqlite|postgres|both] [-duration 10s] [-concurrency 32] [-rate 1000]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
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

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the schema set-up and the final count

	"github.com/metachat/metachat/bench/internal/benchkit"
	"github.com/metachat/metachat/internal/cli"
	"github.com/metachat/metachat/internal/meta/metafake"
)

// childArg as the first argument makes this program a child: the server
// ("serve") or the bare handler ("bare").
const childArg = "__webhooks-bench-child"

// The WhatsApp channel the bench creates.
const (
	phoneNumberID = "1065000000000"
	accessToken   = "EAAGbench"
	appSecret     = "bench-app-secret"
	verifyToken   = "bench-verify"
)

// bareSecretEnv passes the app secret to the bare handler's child.
const bareSecretEnv = "WEBHOOKS_BENCH_APP_SECRET"

// Targets (printed as PASS/MISS).
const (
	targetRatePG   = 3000.0 // notifications/s on PostgreSQL, closed loop
	targetShare    = 0.30   // of the bare handler's rate
	targetOpenP99  = 50 * time.Millisecond
	maxOpenInFligh = 1024 // open loop: requests in flight at most (the scheduler waits beyond)
)

const defaultPG = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

type options struct {
	dialects    []string
	pgURL       string
	duration    time.Duration
	concurrency int
	rate        float64
	senders     int
	dupShare    float64
	channels    int
	reqTimeout  time.Duration
	drain       time.Duration
	timeout     time.Duration
	keep        bool
	profile     string
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == childArg {
		os.Exit(runChild(os.Args[2]))
	}
	var o options
	pgDefault := defaultPG
	if v := os.Getenv("METACHAT_BENCH_POSTGRES"); v != "" {
		pgDefault = v
	}
	dialect := flag.String("dialect", "both", "database: sqlite (embedded, in a temporary data dir), postgres (a fresh schema on -pg-url) or both, one after the other")
	flag.StringVar(&o.pgURL, "pg-url", pgDefault, "PostgreSQL server (default: $METACHAT_BENCH_POSTGRES, else the local test database); the bench creates and drops its own schema")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured window (closed loop, bare handler, open loop)")
	flag.IntVar(&o.concurrency, "concurrency", 32, "closed loop: requests in flight (workers, each sending its next request when the last is answered); also the client's idle connections per host")
	flag.Float64Var(&o.rate, "rate", 1000, "open loop: notifications per second, sent on a fixed schedule")
	flag.IntVar(&o.senders, "senders", 1000, "distinct WhatsApp users the notifications come from")
	flag.Float64Var(&o.dupShare, "dup", 0.05, "share of requests that resend a notification already answered 200 (a redelivery)")
	flag.IntVar(&o.channels, "channels", 1, "WhatsApp channels (phone numbers) the senders are spread over; 1 is the target's set-up, more shows what per-channel contention costs")
	flag.DurationVar(&o.reqTimeout, "request-timeout", 10*time.Second, "a request not answered this long counts as an error")
	flag.DurationVar(&o.drain, "drain", 20*time.Second, "how long `metachat worker` processes the stored webhooks (it stops earlier when none is left); 0 skips the drain")
	flag.DurationVar(&o.timeout, "timeout", 0, "hard limit on the whole run (default 2m + (3×duration + 90s + drain) per dialect); the bench cleans up and exits with status 2 when reached")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (server logs, SQLite files)")
	flag.StringVar(&o.profile, "profile", "", "directory for CPU profiles of the server child, one per server window (closed and open loop)")
	flag.Parse()
	fail := func(msg string) {
		fmt.Fprintln(os.Stderr, "webhooks bench:", msg)
		os.Exit(2)
	}
	if flag.NArg() > 0 {
		fail(fmt.Sprint("unexpected arguments: ", flag.Args()))
	}
	switch *dialect {
	case "sqlite", "postgres":
		o.dialects = []string{*dialect}
	case "both":
		o.dialects = []string{"sqlite", "postgres"}
	default:
		fail("-dialect must be sqlite, postgres or both")
	}
	if o.duration < time.Second || o.concurrency < 1 || o.rate <= 0 || o.senders < 1 || o.reqTimeout <= 0 || o.channels < 1 || o.channels > o.senders {
		fail("-duration must be at least 1s; -concurrency, -rate, -senders, -channels and -request-timeout positive, -channels at most -senders")
	}
	if o.dupShare < 0 || o.dupShare >= 1 {
		fail("-dup must be in [0, 1)")
	}
	if o.timeout == 0 {
		o.timeout = 2*time.Minute + time.Duration(len(o.dialects))*(3*o.duration+90*time.Second+o.drain)
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
		fmt.Fprintf(os.Stderr, "webhooks bench: time limit %s reached: cleaning up and stopping\n", o.timeout)
		cl.Run()
		os.Exit(2)
	})
	defer watchdog.Stop()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		fmt.Fprintf(os.Stderr, "webhooks bench: %s: cleaning up\n", s)
		cl.Run()
		os.Exit(130)
	}()
	raiseNofile()

	tmp, err := os.MkdirTemp("", "metachat-webhooksbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhooks bench:", err)
		return 1
	}
	cl.Add(func() {
		if o.keep {
			fmt.Fprintln(os.Stderr, "webhooks bench: kept", tmp)
			return
		}
		os.RemoveAll(tmp)
	})

	load0 := loadAvg()
	var results []*dialectResult
	for _, d := range o.dialects {
		r, err := runDialect(context.Background(), o, d, filepath.Join(tmp, d))
		if err != nil {
			fmt.Fprintf(os.Stderr, "webhooks bench: %s: %v\n", d, err)
			return 1
		}
		results = append(results, r)
	}
	cl.Run()
	ok := report(os.Stdout, o, results, load0, loadAvg(), time.Since(started))
	if !ok {
		return 1
	}
	return 0
}

// raiseNofile lifts RLIMIT_NOFILE to its hard limit (children inherit it).
func raiseNofile() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// ---------------------------------------------------------------------------
// Children: the server and the bare handler

// runChild is a child process: it serves until its standard input closes
// (or a signal).
func runChild(kind string) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		// Commands on standard input: "cpu PATH" starts a CPU profile,
		// "cpustop" ends it. End of input: stop.
		sc := bufio.NewScanner(os.Stdin)
		var cpuf *os.File
		for sc.Scan() {
			cmd, arg, _ := strings.Cut(sc.Text(), " ")
			switch {
			case cmd == "cpu" && cpuf == nil:
				if f, err := os.Create(arg); err == nil {
					if pprof.StartCPUProfile(f) == nil {
						cpuf = f
					} else {
						f.Close()
					}
				}
			case cmd == "cpustop" && cpuf != nil:
				pprof.StopCPUProfile()
				cpuf.Close()
				cpuf = nil
			}
		}
		cancel() // the parent is done (or gone)
	}()
	switch kind {
	case "serve":
		// Acceptance only: the webhook jobs are enqueued, no worker runs them.
		return cli.Run(ctx, []string{"serve", "--no-workers"}, os.LookupEnv, cli.IO{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr})
	case "worker":
		// The drain: `metachat worker` processes the stored webhooks.
		return cli.Run(ctx, []string{"worker"}, os.LookupEnv, cli.IO{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr})
	case "bare":
		return runBare(ctx)
	}
	fmt.Fprintln(os.Stderr, "unknown child", kind)
	return 2
}

// runBare serves the baseline: read the body, check the HMAC, answer 200.
// Its http.Server has the settings `metachat serve` uses.
func runBare(ctx context.Context) int {
	secret := []byte(os.Getenv(bareSecretEnv))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 3<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
		got, err := hex.DecodeString(sig)
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if !ok || err != nil || !hmac.Equal(got, mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Printf("bare handler listening on http://%s\n", ln.Addr())
	go func() { _ = srv.Serve(ln) }()
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
	url     string
	logPath string
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
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
	cmd := exec.Command(exe, childArg, kind)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, logf
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	ch := &child{cmd: cmd, stdin: inW, logPath: logPath, done: make(chan struct{})}
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
	if kind == "worker" {
		return ch, nil // it serves nothing: it works until told to stop
	}
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

// command sends the child one line on its standard input.
func (ch *child) command(line string) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	_, _ = io.WriteString(ch.stdin, line+"\n")
}

// cpu is the child's user+system CPU time so far.
func (ch *child) cpu() time.Duration { return benchkit.StatCPU(strconv.Itoa(ch.cmd.Process.Pid)) }

// stop closes the child's standard input (it shuts down gracefully, as on
// SIGTERM) and kills it if it has not exited after grace.
func (ch *child) stop(grace time.Duration) {
	ch.once.Do(func() {
		ch.mu.Lock()
		ch.stdin.Close()
		ch.mu.Unlock()
		select {
		case <-ch.done:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "webhooks bench: child %d did not stop within %s: killing it\n", ch.cmd.Process.Pid, grace)
			_ = ch.cmd.Process.Kill()
			<-ch.done
		}
	})
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
		if strings.HasPrefix(k, "METACHAT_") || k == "DATABASE_URL" || k == bareSecretEnv {
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
				fmt.Fprintf(os.Stderr, "webhooks bench: drop schema %s: %v\n", schema, err)
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
// CPU

// cpuUse is the CPU time used over a window, by process.
type cpuUse struct {
	server  time.Duration // the process under load: the server or the bare handler
	db      time.Duration // the server's own PostgreSQL backends
	dbAll   time.Duration // every local postgres process (other users of the cluster included)
	client  time.Duration // this process
	machine time.Duration // every process on the machine
}

// serverApp is the application_name of the server's PostgreSQL
// connections: it tells its backends from those of anyone else using the
// cluster.
const serverApp = "metachat-webhooks-bench"

// meter reads the CPU counters of the process under load (the server or
// the bare handler), PostgreSQL (when used), this process and the machine.
type meter struct {
	target *child
	db     *sql.DB // PostgreSQL (the bench's own connection); nil on SQLite
	at     cpuUse
	pg0    map[string]float64
	pgDiff map[string]float64 // the change over the window

	// The server's backends: CPU at the window's start and at the last
	// reading, by pid. Sampled every 200 ms, so a backend that exits
	// within the window (the pool closes connections beyond its idle
	// limit) counts up to its last reading.
	mu         sync.Mutex
	first      map[string]time.Duration
	last       map[string]time.Duration
	stopSample chan struct{}
	sampled    sync.WaitGroup
}

func (m *meter) read() cpuUse {
	u := cpuUse{server: m.target.cpu(), client: benchkit.SelfCPU(), machine: benchkit.MachineBusy()}
	if m.db != nil {
		u.dbAll = benchkit.ProcsCPU("postgres")
	}
	return u
}

// sampleBackends reads the CPU of the server's live backends.
func (m *meter) sampleBackends(initial bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := m.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, serverApp)
	if err != nil {
		return
	}
	var pids []string
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			pids = append(pids, strconv.Itoa(pid))
		}
	}
	rows.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, pid := range pids {
		c := benchkit.StatCPU(pid)
		if c == 0 {
			continue
		}
		if _, seen := m.first[pid]; !seen {
			if initial {
				m.first[pid] = c
			} else {
				m.first[pid] = 0 // started within the window
			}
		}
		m.last[pid] = c
	}
}

func (m *meter) begin() {
	if m.db != nil {
		m.pg0 = pgStats(m.db)
		m.first, m.last = map[string]time.Duration{}, map[string]time.Duration{}
		m.sampleBackends(true)
		m.stopSample = make(chan struct{})
		m.sampled.Go(func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-m.stopSample:
					return
				case <-t.C:
					m.sampleBackends(false)
				}
			}
		})
	}
	m.at = m.read()
}

func (m *meter) end() cpuUse {
	u := m.read()
	out := cpuUse{server: u.server - m.at.server, dbAll: u.dbAll - m.at.dbAll, client: u.client - m.at.client, machine: u.machine - m.at.machine}
	if m.db != nil {
		close(m.stopSample)
		m.sampled.Wait()
		m.sampleBackends(false)
		m.mu.Lock()
		for pid, c := range m.last {
			out.db += c - m.first[pid]
		}
		m.mu.Unlock()
		if pg1 := pgStats(m.db); pg1 != nil && m.pg0 != nil {
			m.pgDiff = map[string]float64{}
			for k, v := range pg1 {
				m.pgDiff[k] = v - m.pg0[k]
			}
		}
	}
	return out
}

// pgStats reads the rows written to the bench's schema (PostgreSQL only;
// the bench's connection has it first on its search_path). Each backend
// flushes these counters at most once a second, so a reading lags by up
// to about a second.
func pgStats(db *sql.DB) map[string]float64 {
	if db == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ins, upd, hot float64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(sum(n_tup_ins), 0), COALESCE(sum(n_tup_upd), 0), COALESCE(sum(n_tup_hot_upd), 0)
FROM pg_stat_user_tables WHERE schemaname = current_schema()`).Scan(&ins, &upd, &hot)
	if err != nil {
		return nil
	}
	return map[string]float64{"inserted": ins, "updated": upd, "hot": hot}
}

// withParam returns the URL u with one query parameter set.
func withParam(u, k, v string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	q := pu.Query()
	q.Set(k, v)
	pu.RawQuery = q.Encode()
	return pu.String(), nil
}

// ---------------------------------------------------------------------------
// Statistics

type summary struct {
	n                       int
	p50, p95, p99, max, avg time.Duration
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
	return summary{n: len(d), p50: at(.50), p95: at(.95), p99: at(.99), max: d[len(d)-1], avg: sum / time.Duration(len(d))}
}

// errCount counts errors by a short description.
type errCount struct {
	mu sync.Mutex
	m  map[string]int
}

var (
	quotedURL = regexp.MustCompile(`"https?://[^"]*"`)
	digits    = regexp.MustCompile(`[0-9]+`)
)

func (e *errCount) add(what string) {
	what = digits.ReplaceAllString(quotedURL.ReplaceAllString(what, "URL"), "N")
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

// ---------------------------------------------------------------------------
// Notifications and the client

// notification is one signed webhook body.
type notification struct {
	channel string // the webhook's channel id
	body    []byte
	sig     string
}

// source makes the notifications for one target: a fresh wamid each, from
// a random sender of the pool, or (dupShare of the time) the resending of
// one the target has already answered 200. It counts what was answered.
type source struct {
	runID    string
	senders  int
	dupShare float64
	channels []channelRef // sender i writes to channels[i % len]
	seq      atomic.Int64

	mu       sync.Mutex
	accepted []notification // ring of recently accepted notifications
	next     int

	newSent, newOK, newFailed atomic.Int64 // fresh wamids: sent, answered 200, failed (outcome unknown)
	dupSent, dupOK            atomic.Int64 // resent wamids: sent, answered 200
}

const acceptedRing = 8192

// channelRef is one WhatsApp channel: its id and phone number id.
type channelRef struct{ id, phoneNumberID string }

func newSource(senders int, dupShare float64, channels []channelRef) *source {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &source{runID: strings.ToUpper(hex.EncodeToString(b)), senders: senders, dupShare: dupShare, channels: channels}
}

// fresh builds a notification with a new wamid from sender (a random one
// when sender < 0).
func (s *source) fresh(sender int) notification {
	n := s.seq.Add(1)
	if sender < 0 {
		sender = mrand.IntN(s.senders)
	}
	from := strconv.Itoa(4915100000000 + sender) // a phone number, as WhatsApp's wa_id
	wamid := fmt.Sprintf("wamid.HBgN%sFQIAEhgU%012d", s.runID, n)
	ch := s.channels[sender%len(s.channels)]
	body := metafake.WhatsAppText(ch.phoneNumberID, from, "Bench Sender "+strconv.Itoa(sender), wamid,
		"Hi! Do you deliver on Saturdays, and until what time? (message "+strconv.FormatInt(n, 10)+")")
	return notification{channel: ch.id, body: body, sig: metafake.Sign(appSecret, body)}
}

// pick returns the next notification to send: a redelivery of an accepted
// one (dupShare of the time, once there is one) or a fresh one.
func (s *source) pick(sender int) (notification, bool) {
	if sender < 0 && s.dupShare > 0 && mrand.Float64() < s.dupShare {
		s.mu.Lock()
		if k := len(s.accepted); k > 0 {
			n := s.accepted[mrand.IntN(k)]
			s.mu.Unlock()
			return n, true
		}
		s.mu.Unlock()
	}
	return s.fresh(sender), false
}

func (s *source) remember(n notification) {
	s.mu.Lock()
	if len(s.accepted) < acceptedRing {
		s.accepted = append(s.accepted, n)
	} else {
		s.accepted[s.next] = n
		s.next = (s.next + 1) % acceptedRing
	}
	s.mu.Unlock()
}

// target is where the notifications go: the server's webhook URL or the
// bare handler.
type target struct {
	name string
	base string // the webhook URL is base + "/webhooks/" + channel id
	hc   *http.Client
}

func newHTTPClient(concurrency int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// outcome is one request's result.
type outcome struct {
	ok   bool
	dup  bool
	fail string
}

// send posts one notification and records what became of it.
func send(t *target, src *source, sender int) outcome {
	n, dup := src.pick(sender)
	if dup {
		src.dupSent.Add(1)
	} else {
		src.newSent.Add(1)
	}
	o := outcome{dup: dup}
	req, err := http.NewRequest(http.MethodPost, t.base+"/webhooks/"+n.channel, bytes.NewReader(n.body))
	if err != nil {
		o.fail = err.Error()
		return o
	}
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{"facebookexternalua"}
	req.Header["X-Hub-Signature-256"] = []string{n.sig}
	res, err := t.hc.Do(req)
	if err != nil {
		o.fail = err.Error()
	} else {
		if res.StatusCode == http.StatusOK {
			_, err = io.Copy(io.Discard, res.Body)
			if err != nil {
				o.fail = "reading the answer: " + err.Error()
			}
		} else {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
			o.fail = fmt.Sprintf("status %d: %s", res.StatusCode, trim(b))
		}
		res.Body.Close()
	}
	o.ok = o.fail == ""
	switch {
	case o.ok && dup:
		src.dupOK.Add(1)
	case o.ok:
		src.newOK.Add(1)
		src.remember(n)
	case !dup:
		src.newFailed.Add(1)
	}
	return o
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// ---------------------------------------------------------------------------
// Phases

type phaseResult struct {
	label    string
	target   string // server | bare
	open     bool
	window   time.Duration
	ok, dups int // answered 200 within the window; of which redeliveries
	lat      summary
	errs     errCount
	cpu      cpuUse

	// open loop
	rate        float64
	scheduled   int
	maxLag      time.Duration // how far behind schedule a send started, at worst
	late        int           // sends more than 10 ms behind schedule
	drain       time.Duration // last scheduled send → last answer
	busy        time.Duration // first scheduled send → last answer (the CPU window)
	maxInFlight int
	unsent      int // scheduled but not sent: the sender was over a second behind when the window ended

	pg map[string]float64 // PostgreSQL activity over the window (pg_stat_database)
}

func (p *phaseResult) perSec() float64 { return float64(p.ok) / p.window.Seconds() }

// cpuWindow is the time the CPU figures cover: the window (closed loop),
// or the first scheduled send to the last answer (open loop).
func (p *phaseResult) cpuWindow() time.Duration {
	if p.open {
		return p.busy
	}
	return p.window
}

// warmUp sends one notification per sender (so every contact and
// conversation exists before the measured windows), unmeasured, with the
// given concurrency; it also opens the client's connections.
func warmUp(t *target, src *source, senders, concurrency int) (int, []string) {
	var next atomic.Int64
	var errs errCount
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= senders {
					return
				}
				if o := send(t, src, i); !o.ok {
					errs.add(o.fail)
				}
			}
		})
	}
	wg.Wait()
	return errs.total(), errs.top(3)
}

// closedLoop runs concurrency workers, each sending its next notification
// as soon as the last is answered, for d.
func closedLoop(t *target, src *source, m *meter, label string, concurrency int, d time.Duration) *phaseResult {
	ph := &phaseResult{label: label, target: t.name, window: d}
	benchkit.Progress("%s: %d workers in a closed loop for %s", label, concurrency, d)
	lats := make([][]time.Duration, concurrency)
	var okN, dupN atomic.Int64
	m.begin()
	start := time.Now()
	end := start.Add(d)
	cpuDone := make(chan struct{})
	time.AfterFunc(d, func() {
		ph.cpu = m.end()
		close(cpuDone)
	})
	var wg sync.WaitGroup
	for w := range concurrency {
		wg.Go(func() {
			l := make([]time.Duration, 0, 4096)
			for time.Now().Before(end) {
				t0 := time.Now()
				o := send(t, src, -1)
				t1 := time.Now()
				if t1.After(end) {
					break
				}
				if !o.ok {
					ph.errs.add(o.fail)
					continue
				}
				okN.Add(1)
				if o.dup {
					dupN.Add(1)
				}
				l = append(l, t1.Sub(t0))
			}
			lats[w] = l
		})
	}
	wg.Wait()
	<-cpuDone
	ph.pg = m.pgDiff
	ph.ok, ph.dups = int(okN.Load()), int(dupN.Load())
	ph.lat = summarise(slices.Concat(lats...))
	benchkit.Progress("%s: %s notifications/s, p99 %s, %d errors", label, benchkit.Commas(int(ph.perSec()+0.5)), ms(ph.lat.p99), ph.errs.total())
	return ph
}

// openLoop sends rate notifications per second on a fixed schedule for d,
// whatever the answers do; each latency counts from the request's
// scheduled time, so a server (or client) falling behind shows in it.
func openLoop(t *target, src *source, m *meter, label string, rate float64, d time.Duration) *phaseResult {
	total := int(rate * d.Seconds())
	ph := &phaseResult{label: label, target: t.name, window: d, open: true, rate: rate, scheduled: total}
	benchkit.Progress("%s: %.0f notifications/s on a fixed schedule for %s (%d in all)", label, rate, d, total)
	interval := time.Duration(float64(time.Second) / rate)
	sem := make(chan struct{}, maxOpenInFligh)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, total)
	var okN, dupN, inFlight, maxIn atomic.Int64
	var lastDone atomic.Int64
	var wg sync.WaitGroup
	m.begin()
	start := time.Now()
	stopAt := start.Add(d + time.Second)
	sent := 0
	for i := range total {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		sem <- struct{}{}
		if time.Now().After(stopAt) {
			// More than a second behind at the end of the window: the rest
			// is not sent (it would only stretch the phase).
			<-sem
			break
		}
		sent++
		lag := time.Since(at)
		ph.maxLag = max(ph.maxLag, lag)
		if lag > 10*time.Millisecond {
			ph.late++
		}
		if n := inFlight.Add(1); n > maxIn.Load() {
			maxIn.Store(n) // a close enough maximum: only the scheduler raises it
		}
		wg.Go(func() {
			defer func() { <-sem }()
			o := send(t, src, -1)
			done := time.Now()
			inFlight.Add(-1)
			for {
				prev := lastDone.Load()
				if done.UnixNano() <= prev || lastDone.CompareAndSwap(prev, done.UnixNano()) {
					break
				}
			}
			if !o.ok {
				ph.errs.add(o.fail)
				return
			}
			okN.Add(1)
			if o.dup {
				dupN.Add(1)
			}
			mu.Lock()
			lat = append(lat, done.Sub(at))
			mu.Unlock()
		})
	}
	lastSend := start.Add(time.Duration(max(sent-1, 0)) * interval)
	ph.unsent = total - sent
	wg.Wait()
	ph.cpu = m.end()
	ph.pg = m.pgDiff
	finished := time.Unix(0, lastDone.Load())
	ph.busy = finished.Sub(start)
	ph.drain = max(0, finished.Sub(lastSend))
	ph.ok, ph.dups = int(okN.Load()), int(dupN.Load())
	ph.maxInFlight = int(maxIn.Load())
	ph.lat = summarise(lat)
	benchkit.Progress("%s: %d/%d answered 200, p99 %s, max lag %s, %d errors", label, ph.ok, total, ms(ph.lat.p99), ms(ph.maxLag), ph.errs.total())
	return ph
}

// keptUp: every request was sent (at most 1% of them more than 10 ms
// behind schedule) and answered 200, and the last answer came within
// 250 ms of the last send.
func (p *phaseResult) keptUp() bool {
	return p.unsent == 0 && p.late*100 <= p.scheduled && p.ok == p.scheduled && p.errs.total() == 0 && p.drain < 250*time.Millisecond
}

// ---------------------------------------------------------------------------
// One dialect: set-up, the three phases, the check

// check compares what the client saw with the rows the server left. A
// fresh notification whose request failed (a timeout, say) may or may not
// have been stored; one answered 200 must have been, exactly once: either
// still waiting as a stored webhook, or processed into one message with
// its reply job. A redelivery must add nothing.
type check struct {
	accepted, unknown       int // fresh wamids answered 200; failed (stored or not)
	dupSent, dupOK          int // redeliveries sent; answered 200
	senders                 int
	messages, distinct      int // rows with a provider message id; distinct ids
	jobs                    int // River reply jobs
	contacts, conversations int
	waiting                 int // stored webhooks not processed yet
	waitingWamids           int // the wamids they carry, none of them also a message
	overlap                 int // wamids both waiting and stored as a message (a resend of a processed body)
	err                     string
}

func (c *check) ok() bool {
	stored := c.messages + c.waitingWamids - c.overlap
	complete := c.waiting > 0 || (c.contacts == c.senders && c.conversations == c.senders)
	return c.err == "" && c.distinct == c.messages && stored >= c.accepted && stored <= c.accepted+c.unknown &&
		c.jobs == c.messages && c.contacts <= c.senders && c.conversations <= c.senders && complete
}

// drain is the worker phase: stored webhooks processed.
type drain struct {
	events, left int           // webhook events waiting when the worker started; when it stopped
	took         time.Duration // the worker's window
	cpu          time.Duration // the worker child's CPU
}

// drainWebhooks runs `metachat worker` on the server's database until no
// stored webhook is left or -drain has passed, and measures the rate.
func drainWebhooks(ctx context.Context, o options, dialect, pgURL, sqlitePath string, env map[string]string, dir string) (drain, error) {
	var d drain
	db, err := openDB(dialect, pgURL, sqlitePath)
	if err != nil {
		return d, err
	}
	defer db.Close()
	waiting := func() (int, error) {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM webhook_events`).Scan(&n)
		return n, err
	}
	if d.events, err = waiting(); err != nil {
		return d, fmt.Errorf("count stored webhooks: %w", err)
	}
	benchkit.Progress("%s: drain: `metachat worker` processes the %s stored webhooks for up to %s", dialect, benchkit.Commas(d.events), o.drain)
	w, err := startChild("worker", childEnv(env), filepath.Join(dir, "worker.log"))
	if err != nil {
		return d, err
	}
	start := time.Now()
	cpu0 := w.cpu()
	for d.left = d.events; d.left > 0 && time.Since(start) < o.drain; {
		time.Sleep(100 * time.Millisecond)
		if d.left, err = waiting(); err != nil {
			break
		}
	}
	d.took, d.cpu = time.Since(start), w.cpu()-cpu0
	w.stop(30 * time.Second)
	if err != nil {
		return d, fmt.Errorf("count stored webhooks: %w", err)
	}
	d.left, err = waiting()
	return d, err
}

// openDB opens the bench's database for reading back what the server
// stored. On PostgreSQL the bench connects as the schema's owner (a
// superuser): row security does not apply to it.
func openDB(dialect, pgURL, sqlitePath string) (*sql.DB, error) {
	if dialect == "sqlite" {
		return sql.Open("sqlite", "file:"+sqlitePath+"?_pragma=busy_timeout(10000)")
	}
	return sql.Open("pgx", pgURL)
}

var wamidRE = regexp.MustCompile(`"id":"(wamid\.[^"]+)"`)

type dialectResult struct {
	dialect            string
	load0, load1       string
	warmErrs           int
	server, bare, open *phaseResult
	drain              drain
	check              check
	logLines           int
	logProblems        errCount
}

func runDialect(ctx context.Context, o options, dialect, dir string) (*dialectResult, error) {
	cl := &benchkit.Cleanup{}
	defer cl.Run()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	res := &dialectResult{dialect: dialect, load0: loadAvg()}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	env := map[string]string{
		"METACHAT_ADDR":       "127.0.0.1:0",
		"METACHAT_DATA_DIR":   filepath.Join(dir, "data"),
		"METACHAT_SECRET_KEY": base64.StdEncoding.EncodeToString(key),
		"METACHAT_LOG_FORMAT": "json",
		"METACHAT_LOG_LEVEL":  "warn",
		// Replies are never sent (no workers), but keep the Graph API
		// off the internet all the same.
		"METACHAT_META_GRAPH_URL": "http://127.0.0.1:9/v25.0",
	}
	dbURL := ""
	if dialect == "postgres" {
		u, drop, err := createSchema(o.pgURL, "webhooksbench_")
		if err != nil {
			return nil, err
		}
		cl.Add(drop)
		dbURL = u
		if env["DATABASE_URL"], err = withParam(u, "application_name", serverApp); err != nil {
			return nil, err
		}
	}

	// The tenant, as an operator would make it: `metachat tenant create`.
	benchkit.Progress("%s: metachat tenant create", dialect)
	var out, errb bytes.Buffer
	code := cli.Run(ctx, []string{"tenant", "create", "--name", "Bench", "--json"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
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

	benchkit.Progress("%s: starting the server (serve --no-workers)", dialect)
	srv, err := startChild("serve", childEnv(env), filepath.Join(dir, "metachat.log"))
	if err != nil {
		return nil, err
	}
	cl.Add(func() { srv.stop(30 * time.Second) })
	api := &apiClient{base: srv.url, key: tc.APIKey, hc: newHTTPClient(4, 30*time.Second)}
	if err := api.waitReady(); err != nil {
		return nil, err
	}
	chans, err := api.setUp(ctx, o.channels)
	if err != nil {
		return nil, err
	}
	benchkit.Progress("%s: server at %s (pid %d), webhook %s/webhooks/%s", dialect, srv.url, srv.cmd.Process.Pid, srv.url, chans[0].id)

	var statsDB *sql.DB
	if dialect == "postgres" {
		statsURL, _ := withParam(dbURL, "application_name", "metachat-webhooks-bench-stats")
		if statsDB, err = sql.Open("pgx", statsURL); err != nil {
			return nil, err
		}
		defer statsDB.Close()
		statsDB.SetMaxOpenConns(1)
	}
	profile := func(window string) func() {
		if o.profile == "" {
			return func() {}
		}
		_ = os.MkdirAll(o.profile, 0o755)
		abs, _ := filepath.Abs(filepath.Join(o.profile, fmt.Sprintf("server-cpu-%s-%s.pb.gz", dialect, window)))
		srv.command("cpu " + abs)
		return func() { srv.command("cpustop") }
	}
	server := &target{name: "server", base: srv.url, hc: newHTTPClient(o.concurrency, o.reqTimeout)}
	src := newSource(o.senders, o.dupShare, chans)
	benchkit.Progress("%s: warm-up: one notification from each of %d senders (creates the contacts and conversations)", dialect, o.senders)
	n, top := warmUp(server, src, o.senders, o.concurrency)
	res.warmErrs = n
	if n > 0 {
		fmt.Fprintf(os.Stderr, "webhooks bench: %s warm-up: %d errors: %v\n", dialect, n, top)
	}
	if src.newOK.Load() == 0 {
		return nil, fmt.Errorf("no notification was accepted in the warm-up: %v", top)
	}
	time.Sleep(500 * time.Millisecond)
	stopProfile := profile("closed")
	res.server = closedLoop(server, src, &meter{target: srv, db: statsDB}, dialect+" server", o.concurrency, o.duration)
	stopProfile()

	// The bare handler, the same client settings, concurrency and bodies.
	benchkit.Progress("%s: starting the bare handler", dialect)
	bare, err := startChild("bare", childEnv(map[string]string{bareSecretEnv: appSecret}), filepath.Join(dir, "bare.log"))
	if err != nil {
		return nil, err
	}
	cl.Add(func() { bare.stop(10 * time.Second) })
	bt := &target{name: "bare", base: bare.url, hc: newHTTPClient(o.concurrency, o.reqTimeout)}
	bsrc := newSource(o.senders, o.dupShare, chans)
	if n, top := warmUp(bt, bsrc, o.senders, o.concurrency); n > 0 {
		fmt.Fprintf(os.Stderr, "webhooks bench: %s bare warm-up: %d errors: %v\n", dialect, n, top)
	}
	res.bare = closedLoop(bt, bsrc, &meter{target: bare, db: statsDB}, dialect+" bare", o.concurrency, o.duration)
	bare.stop(10 * time.Second)
	bt.hc.CloseIdleConnections()

	time.Sleep(500 * time.Millisecond)
	stopProfile = profile("open")
	res.open = openLoop(server, src, &meter{target: srv, db: statsDB}, dialect+" server open loop", o.rate, o.duration)
	stopProfile()
	server.hc.CloseIdleConnections()
	res.load1 = loadAvg()

	benchkit.Progress("%s: stopping the server", dialect)
	srv.stop(30 * time.Second)
	if o.drain > 0 {
		if res.drain, err = drainWebhooks(ctx, o, dialect, dbURL, filepath.Join(dir, "data", "metachat.db"), env, dir); err != nil {
			res.check.err = err.Error()
		}
	}
	benchkit.Progress("%s: counting rows", dialect)
	cerr := res.check.err
	res.check = check{err: cerr, accepted: int(src.newOK.Load()), unknown: int(src.newFailed.Load()), dupSent: int(src.dupSent.Load()), dupOK: int(src.dupOK.Load()), senders: o.senders}
	if err := countRows(ctx, dialect, dbURL, filepath.Join(dir, "data", "metachat.db"), &res.check); err != nil && res.check.err == "" {
		res.check.err = err.Error()
	}
	res.logLines = summariseLog(srv.logPath, &res.logProblems)
	return res, nil
}

// countRows reads back what the server stored: messages, and the wamids
// of the webhooks still waiting.
func countRows(ctx context.Context, dialect, pgURL, sqlitePath string, c *check) error {
	db, err := openDB(dialect, pgURL, sqlitePath)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	err = db.QueryRowContext(ctx, `SELECT
  (SELECT count(*) FROM messages WHERE provider_message_id IS NOT NULL),
  (SELECT count(DISTINCT provider_message_id) FROM messages WHERE provider_message_id IS NOT NULL),
  (SELECT count(*) FROM river_job WHERE kind = 'reply'),
  (SELECT count(*) FROM contacts),
  (SELECT count(*) FROM conversations),
  (SELECT count(*) FROM webhook_events)`).Scan(&c.messages, &c.distinct, &c.jobs, &c.contacts, &c.conversations, &c.waiting)
	if err != nil || c.waiting == 0 {
		return err
	}
	rows, err := db.QueryContext(ctx, `SELECT body FROM webhook_events`)
	if err != nil {
		return err
	}
	defer rows.Close()
	waiting := map[string]bool{}
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return err
		}
		for _, m := range wamidRE.FindAllSubmatch(body, -1) {
			waiting[string(m[1])] = true
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.waitingWamids = len(waiting)
	ids := make([]string, 0, len(waiting))
	for id := range waiting {
		ids = append(ids, id)
	}
	for len(ids) > 0 { // which waiting wamids were also processed (a resend of a processed body)
		n := min(len(ids), 500)
		ph := make([]string, n)
		args := make([]any, n)
		for i := range n {
			ph[i], args[i] = "$"+strconv.Itoa(i+1), ids[i]
		}
		var k int
		if err := db.QueryRowContext(ctx, `SELECT count(DISTINCT provider_message_id) FROM messages WHERE provider_message_id IN (`+strings.Join(ph, ",")+`)`, args...).Scan(&k); err != nil {
			return err
		}
		c.overlap += k
		ids = ids[n:]
	}
	return nil
}

// summariseLog counts the server's log lines (at level warn, every line is
// a warning or an error) by message.
func summariseLog(path string, e *errCount) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
		var l struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			e.add("unparsed: " + sc.Text())
			continue
		}
		m := l.Level + " " + l.Msg
		if l.Error != "" {
			m += ": " + l.Error
		}
		e.add(m)
	}
	return n
}

// apiClient makes the set-up calls on the tenant API.
type apiClient struct {
	base, key string
	hc        *http.Client
}

func (a *apiClient) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.key != "" {
		req.Header.Set("Authorization", "Bearer "+a.key)
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return res.StatusCode, b, err
}

func (a *apiClient) waitReady() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, b, err := a.do(ctx, "GET", "/readyz", nil)
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

// create POSTs a tenant API object and returns its id.
func (a *apiClient) create(ctx context.Context, path string, body any) (string, error) {
	b, _ := json.Marshal(body)
	st, out, err := a.do(ctx, "POST", path, b)
	if err != nil || st != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %d %v %s", path, st, err, trim(out))
	}
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &m); err != nil || m.ID == "" {
		return "", fmt.Errorf("POST %s: no id in %s", path, trim(out))
	}
	return m.ID, nil
}

// setUp creates the assistant and the WhatsApp channel (n of them, with
// consecutive phone number ids, for -channels), then checks the first
// channel's webhook.
func (a *apiClient) setUp(ctx context.Context, n int) ([]channelRef, error) {
	asst, err := a.create(ctx, "/api/v1/assistants", map[string]any{"name": "Bot"})
	if err != nil {
		return nil, err
	}
	var out []channelRef
	for i := range n {
		ref := channelRef{phoneNumberID: phoneNumberID, id: ""}
		name := "WA"
		if i > 0 { // more channels for -channels: the next phone number ids
			ref.phoneNumberID = strconv.Itoa(1065000000000 + i)
			name = "WA " + strconv.Itoa(i+1)
		}
		ref.id, err = a.create(ctx, "/api/v1/channels", map[string]any{"type": "whatsapp", "name": name, "assistant_id": asst,
			"config": map[string]string{"phone_number_id": ref.phoneNumberID, "access_token": accessToken, "app_secret": appSecret, "verify_token": verifyToken}})
		if err != nil {
			return nil, err
		}
		out = append(out, ref)
	}
	return out, a.checkWebhook(ctx, out[0].id)
}

// checkWebhook checks a webhook as Meta would: the verification handshake,
// and that a body with a wrong signature is refused.
func (a *apiClient) checkWebhook(ctx context.Context, id string) error {
	q := url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {verifyToken}, "hub.challenge": {"1158201444"}}
	st, b, err := a.do(ctx, "GET", "/webhooks/"+id+"?"+q.Encode(), nil)
	if err != nil || st != http.StatusOK || string(b) != "1158201444" {
		return fmt.Errorf("webhook verification: %d %v %s", st, err, trim(b))
	}
	body := metafake.WhatsAppText(phoneNumberID, "4915099999999", "Mallory", "wamid.forged", "forged")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/webhooks/"+id, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", metafake.Sign("not-the-app-secret", body))
	res, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		return errors.New("the webhook accepted a body with a wrong signature")
	}
	return nil
}

// ---------------------------------------------------------------------------
// Report

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func cores(d, over time.Duration) string {
	if over <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", d.Seconds()/over.Seconds())
}

// per1000 is CPU seconds per 1,000 notifications.
func per1000(cpu time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.3f s", cpu.Seconds()*1000/float64(n))
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}

// report prints the results and reports whether every integrity check held.
func report(w io.Writer, o options, rs []*dialectResult, load0, load1 string, total time.Duration) bool {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("metachat WhatsApp webhook benchmark — closed loop %d workers, open loop %.0f/s, %s per window", o.concurrency, o.rate, o.duration)
	p("  machine: %d CPUs, %s %s/%s; load average %s at the start, %s at the end", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, load0, load1)
	p("  server: child process running `metachat serve --no-workers` — ACCEPTANCE: each notification is verified and stored durably with the")
	p("          River job that processes it (one transaction shared by concurrent webhooks; a byte-identical resend still waiting is not stored again)")
	p("  drain:  then `metachat worker` processes stored webhooks for -drain (contact, conversation, message once per wamid, its reply job); it")
	p("          also runs the reply jobs it creates and their deliveries (which fail: no Graph API here), so the drain rate is the whole pipeline's")
	p("  bare:   child process, an http.Server whose handler reads the body, checks X-Hub-Signature-256 with crypto/hmac and answers 200")
	chans := "one WhatsApp channel"
	if o.channels > 1 {
		chans = fmt.Sprintf("%d WhatsApp channels (sender i → channel i mod %d)", o.channels, o.channels)
	}
	p("  bodies: metafake.WhatsAppText from %s senders to %s, a fresh wamid each, signed with metafake.Sign; %.0f%% resend a notification", benchkit.Commas(o.senders), chans, 100*o.dupShare)
	p("          already answered 200 (byte for byte, as Meta redelivers); warm-up: one notification per sender, not measured")
	p("  rate = answers 200 within the window (redeliveries included) ÷ window; latency = request → answer (open loop: scheduled time → answer)")
	p("")
	hdr := fmt.Sprintf("  %-9s %-24s %9s %6s %9s %9s %9s %9s %6s %10s %10s %7s %7s %7s", "dialect", "phase", "notif/s", "dups", "p50", "p95", "p99", "max", "errors", "srv CPU/1k", "PG CPU/1k", "client", "machine", "others")
	p("%s", hdr)
	p("  %s", strings.Repeat("─", len([]rune(hdr))-2))
	row := func(d string, ph *phaseResult) {
		name := fmt.Sprintf("%s closed c=%d", ph.target, o.concurrency)
		over := ph.cpuWindow()
		rate := fmt.Sprintf("%.0f", ph.perSec())
		if ph.open {
			name = fmt.Sprintf("%s open %.0f/s", ph.target, ph.rate)
			rate = fmt.Sprintf("%.0f", float64(ph.ok)/ph.busy.Seconds())
		}
		db := "—"
		if d == "postgres" {
			db = per1000(ph.cpu.db, ph.ok)
		}
		others := max(0, ph.cpu.machine-ph.cpu.server-ph.cpu.db-ph.cpu.client)
		p("  %-9s %-24s %9s %6d %9s %9s %9s %9s %6d %10s %10s %7s %7s %7s", d, name, rate, ph.dups,
			ms(ph.lat.p50), ms(ph.lat.p95), ms(ph.lat.p99), ms(ph.lat.max), ph.errs.total(),
			per1000(ph.cpu.server, ph.ok), db, cores(ph.cpu.client, over), cores(ph.cpu.machine, over), cores(others, over))
	}
	for _, r := range rs {
		row(r.dialect, r.server)
		row(r.dialect, r.bare)
		row(r.dialect, r.open)
	}
	p("  (CPU/1k: CPU seconds per 1,000 notifications answered; PG: the server's own backends; client, machine and others: cores busy,")
	p("   others = machine − server (or bare) − its PG backends − client; open loop: rate achieved and CPU from the first send to the last answer)")
	p("")
	allChecked := true
	for _, r := range rs {
		s, b, op := r.server, r.bare, r.open
		p("  %s (load average %s → %s):", r.dialect, r.load0, r.load1)
		p("    server %s /s vs bare %s /s: %.1f%% of the bare handler; server busy %s cores, bare %s cores",
			benchkit.Commas(int(s.perSec()+0.5)), benchkit.Commas(int(b.perSec()+0.5)), 100*s.perSec()/b.perSec(), cores(s.cpu.server, s.window), cores(b.cpu.server, b.window))
		kept := "yes"
		if !op.keptUp() {
			kept = "NO"
		}
		p("    open loop: %s scheduled at %.0f/s, %s not sent (over 1 s behind at the end), %s answered 200, achieved %.0f /s; send lag max %s (%s sends > 10 ms late); last answer %s after the last send; in flight max %d; kept up (all sent and answered, ≤ 1%% late, drained in 250 ms): %s",
			benchkit.Commas(op.scheduled), op.rate, benchkit.Commas(op.unsent), benchkit.Commas(op.ok), float64(op.ok)/op.busy.Seconds(), ms(op.maxLag), benchkit.Commas(op.late), ms(op.drain), op.maxInFlight, kept)
		if r.dialect == "postgres" {
			for _, ph := range []*phaseResult{s, op} {
				if ph.pg != nil && ph.ok > 0 {
					n := float64(ph.ok)
					p("    PostgreSQL per notification answered, %s: %.1f rows inserted, %.1f rows updated (%.1f HOT), %.2f ms CPU in the server's backends; all postgres processes %s cores",
						ph.label, ph.pg["inserted"]/n, ph.pg["updated"]/n, ph.pg["hot"]/n, 1000*ph.cpu.db.Seconds()/n, cores(ph.cpu.dbAll, ph.cpuWindow()))
				}
			}
		}
		if d := r.drain; d.events > 0 {
			done := d.events - d.left
			p("    drain: one `metachat worker` processed %s of %s stored webhooks in %.1f s = %s /s (%s cores), replies and their deliveries included",
				benchkit.Commas(done), benchkit.Commas(d.events), d.took.Seconds(), benchkit.Commas(int(float64(done)/d.took.Seconds()+0.5)), cores(d.cpu, d.took))
		}
		c := r.check
		state := "OK"
		if !c.ok() {
			state, allChecked = "FAILED", false
		}
		p("    check %s: %s fresh wamids answered 200 (+%s failed, outcome unknown) → %s messages with a provider id (%s distinct), %s reply jobs, + %s wamids in %s stored webhooks still waiting (%s of them also processed); %s contacts, %s conversations (%s senders); redeliveries answered 200: %s of %s, none stored twice",
			state, benchkit.Commas(c.accepted), benchkit.Commas(c.unknown), benchkit.Commas(c.messages), benchkit.Commas(c.distinct), benchkit.Commas(c.jobs), benchkit.Commas(c.waitingWamids), benchkit.Commas(c.waiting), benchkit.Commas(c.overlap), benchkit.Commas(c.contacts), benchkit.Commas(c.conversations), benchkit.Commas(c.senders), benchkit.Commas(c.dupOK), benchkit.Commas(c.dupSent))
		if c.err != "" {
			p("      (count failed: %s)", c.err)
		}
		if r.warmErrs > 0 {
			p("    warm-up errors: %d", r.warmErrs)
		}
		for _, ph := range []*phaseResult{s, b, op} {
			for _, e := range ph.errs.top(5) {
				p("    %s error: %s", ph.label, e)
			}
		}
		if r.logLines > 0 {
			p("    server log: %d warning/error lines", r.logLines)
			for _, e := range r.logProblems.top(5) {
				p("      %s", e)
			}
		}
	}
	p("")
	for _, r := range rs {
		if r.dialect == "postgres" {
			p("  %s  ≥ %s notifications/s on PostgreSQL (closed loop): %s /s", verdict(r.server.perSec() >= targetRatePG), benchkit.Commas(int(targetRatePG)), benchkit.Commas(int(r.server.perSec()+0.5)))
		}
	}
	for _, r := range rs {
		share := r.server.perSec() / r.bare.perSec()
		p("  %s  ≥ %.0f%% of the bare handler's rate, %s: %.1f%%", verdict(share >= targetShare), 100*targetShare, r.dialect, 100*share)
	}
	for _, r := range rs {
		op := r.open
		ok := op.lat.n > 0 && op.lat.p99 < targetOpenP99 && op.keptUp()
		p("  %s  webhook p99 < %s at %.0f notifications/s (open loop, kept up), %s: p99 %s", verdict(ok), ms(targetOpenP99), op.rate, r.dialect, ms(op.lat.p99))
	}
	if !allChecked {
		p("  FAILED: the stored rows do not match the accepted notifications (see the check lines)")
	}
	p("  whole run: %.0f s", total.Seconds())
	return allChecked
}
