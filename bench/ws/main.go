// Command ws benchmarks the web widget's live path (DESIGN §7): how many
// visitor WebSockets one server holds, what an idle one costs in memory,
// and how long a message takes from a visitor's socket through the store
// and the event bus back to that socket, at a fixed message rate.
//
// Every figure is printed next to the same figure for a minimal
// coder/websocket echo server measured in the same run, with the same
// client code, connection count and rate, so that the ratio stays
// meaningful on a noisy machine.
//
// Both servers run as child processes of this program (it re-executes
// itself): the metachat child calls cli.Run("serve") and is wired exactly
// as `metachat serve`; the echo child is a bare coder/websocket echo. The
// parent holds only client ends, so a child's memory is the server's
// memory, read from its own runtime and /proc after a forced GC.
//
// Usage (see README.md):
//
//	go run ./bench/ws [-dialect sqlite|postgres] [-conns 10000] [-rate 1000] [-duration 20s] [-idle-sample 2000]
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
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
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
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the schema set-up

	"github.com/metachat/metachat/bench/internal/benchkit"
	"github.com/metachat/metachat/internal/cli"
)

// childArg as the first argument makes this program a server child.
const childArg = "__ws-bench-child"

type options struct {
	dialect     string
	pgURL       string
	conns       int
	rate        float64
	duration    time.Duration
	idleSample  int
	concurrency int
	agentSample int
	agentRate   float64
	timeout     time.Duration
	keep        bool
	profile     string
	prestart    bool
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == childArg {
		os.Exit(runChild(os.Args[2]))
	}
	var o options
	flag.StringVar(&o.dialect, "dialect", "sqlite", "database: sqlite (embedded, in a temporary data dir) or postgres (a fresh schema on -pg-url)")
	flag.StringVar(&o.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL server for -dialect postgres; the bench creates and drops its own schema")
	flag.IntVar(&o.conns, "conns", 10000, "visitor WebSockets to open and hold")
	flag.Float64Var(&o.rate, "rate", 1000, "visitor messages per second, in total, during the load phase")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "length of the load phase")
	flag.IntVar(&o.idleSample, "idle-sample", 2000, "extra idle connections opened to measure memory per connection")
	flag.IntVar(&o.concurrency, "concurrency", 64, "connections being opened at once")
	flag.IntVar(&o.agentSample, "agent-sample", 100, "conversations that also receive agent messages posted through the API")
	flag.Float64Var(&o.agentRate, "agent-rate", 10, "agent messages per second posted during the load phase")
	flag.DurationVar(&o.timeout, "timeout", 0, "hard limit on the whole run (default 4m + 2×duration); the bench cleans up and exits when reached")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (server logs, SQLite file)")
	flag.BoolVar(&o.prestart, "prestart", false, "before the load phase, have every visitor send one unmeasured message (at -rate), so that the load phase measures only messages in existing conversations")
	flag.StringVar(&o.profile, "profile", "", "directory for the server children's profiles: heap with the idle sample open, CPU during the load phase, heap after it")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "ws bench: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if o.dialect != "sqlite" && o.dialect != "postgres" {
		fmt.Fprintln(os.Stderr, "ws bench: -dialect must be sqlite or postgres")
		os.Exit(2)
	}
	if o.conns < 1 || o.rate <= 0 || o.duration <= 0 || o.idleSample < 0 || o.concurrency < 1 || o.agentSample < 0 || o.agentRate < 0 {
		fmt.Fprintln(os.Stderr, "ws bench: -conns, -rate, -duration and -concurrency must be positive; -idle-sample, -agent-sample and -agent-rate not negative")
		os.Exit(2)
	}
	if o.timeout == 0 {
		o.timeout = 4*time.Minute + 2*o.duration
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
		fmt.Fprintf(os.Stderr, "ws bench: time limit %s reached: cleaning up and stopping\n", o.timeout)
		cl.Run()
		os.Exit(2)
	})
	defer watchdog.Stop()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		fmt.Fprintf(os.Stderr, "ws bench: %s: cleaning up\n", s)
		cl.Run()
		os.Exit(130)
	}()

	env := checkLimits(&o)
	tmp, err := os.MkdirTemp("", "metachat-wsbench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ws bench:", err)
		return 1
	}
	cl.Add(func() {
		if o.keep {
			fmt.Fprintln(os.Stderr, "ws bench: kept", tmp)
			return
		}
		os.RemoveAll(tmp)
	})

	ctx := context.Background()
	echo, err := runTarget(ctx, o, cl, false, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ws bench: echo baseline:", err)
		return 1
	}
	meta, err := runTarget(ctx, o, cl, true, tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ws bench: metachat:", err)
		return 1
	}
	cl.Run()
	report(os.Stdout, o, env, echo, meta, time.Since(started))
	return 0
}

// machine describes the limits the run found.
type machine struct {
	nofile    uint64
	ports     string
	portCount int
	capped    []string
}

// checkLimits raises RLIMIT_NOFILE to its hard limit and caps -conns to
// what descriptors and ephemeral ports allow.
func checkLimits(o *options) machine {
	var m machine
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		if rl.Cur < rl.Max {
			rl.Cur = rl.Max
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
				fmt.Fprintln(os.Stderr, "ws bench: cannot raise RLIMIT_NOFILE:", err)
				_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
			}
		}
		m.nofile = rl.Cur
	}
	// Each process holds one end of every connection (the client ends
	// here, the server ends in the child, which inherits this limit), plus
	// the idle sample, HTTP keep-alive connections and the database.
	const margin = 512
	if m.nofile > 0 {
		if need := uint64(o.conns + o.idleSample + margin); need > m.nofile {
			capTo := int(m.nofile) - o.idleSample - margin
			if capTo < 1 {
				capTo = int(m.nofile) / 2
				o.idleSample = 0
			}
			m.capped = append(m.capped, fmt.Sprintf("RLIMIT_NOFILE is %d: %d connections + %d idle sample + %d spare descriptors do not fit, -conns capped to %d", m.nofile, o.conns, o.idleSample, margin, capTo))
			o.conns = capTo
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 {
			lo, _ := strconv.Atoi(f[0])
			hi, _ := strconv.Atoi(f[1])
			m.ports = f[0] + "-" + f[1]
			m.portCount = hi - lo + 1
			// All connections go from one loopback address to one port:
			// each needs its own ephemeral port.
			if need := o.conns + o.idleSample + 256; m.portCount > 0 && need > m.portCount {
				capTo := m.portCount - o.idleSample - 256
				m.capped = append(m.capped, fmt.Sprintf("only %d ephemeral ports (%s) on one loopback address: -conns capped to %d", m.portCount, m.ports, capTo))
				o.conns = capTo
			}
		}
	}
	for _, c := range m.capped {
		fmt.Fprintln(os.Stderr, "ws bench:", c)
	}
	return m
}

// ---------------------------------------------------------------------------
// Server children

// memSnap is a child's memory after a forced GC.
type memSnap struct {
	RSS        uint64 `json:"rss"` // VmRSS, bytes
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
}

// runChild is the child process: it serves until its standard input
// closes (or a signal), and answers "mem" lines on standard input with a
// memSnap line on file descriptor 3.
func runChild(kind string) int {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctrl := os.NewFile(3, "ctrl")
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		var cpuf *os.File
		for sc.Scan() {
			cmd, arg, _ := strings.Cut(sc.Text(), " ")
			var answer any = struct{}{}
			switch cmd {
			case "mem":
				answer = snapshot()
			case "heap": // a heap profile after a full GC
				runtime.GC()
				if f, err := os.Create(arg); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
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
		return cli.Run(ctx, []string{"serve"}, os.LookupEnv, cli.IO{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr})
	case "echo":
		return runEcho(ctx)
	}
	fmt.Fprintln(os.Stderr, "unknown child", kind)
	return 2
}

func snapshot() memSnap {
	// Each GC may halve a goroutine stack that uses under a quarter of
	// it; a few let stacks grown by one deep call settle to what an idle
	// connection keeps in a long-running server.
	for range 4 {
		runtime.GC()
	}
	debug.FreeOSMemory() // a full GC, then unused memory back to the OS
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnap{RSS: vmRSS("self"), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse, Sys: ms.Sys, Goroutines: runtime.NumGoroutine()}
}

func vmRSS(pid string) uint64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// runEcho is the baseline: coder/websocket's echo, nothing else.
func runEcho(ctx context.Context) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(16 << 10)
		for {
			typ, b, err := c.Read(ctx) // ends when ctx does
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, b); err != nil {
				return
			}
		}
	})}
	fmt.Printf("echo listening on http://%s\n", ln.Addr())
	go func() { _ = srv.Serve(ln) }()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return 0
}

// child is a running server child.
type child struct {
	cmd     *exec.Cmd
	stdin   *os.File
	ctrl    *bufio.Reader
	ctrlMu  sync.Mutex
	url     string
	logPath string
	done    chan struct{}
	stopped time.Duration
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

// mem asks the child for a memory snapshot (it forces a GC first).
func (ch *child) mem() (memSnap, error) {
	b, err := ch.ctl("mem")
	if err != nil {
		return memSnap{}, err
	}
	var m memSnap
	if err := json.Unmarshal(b, &m); err != nil {
		return m, err
	}
	benchkit.Progress("  server memory: RSS %.1f MB, heap in use %.1f MB, stacks %.1f MB, %d goroutines", mb(m.RSS), mb(m.HeapInuse), mb(m.StackInuse), m.Goroutines)
	return m, nil
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
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("no answer to %q from the server child within 60s", cmd)
	}
}

// cpu is the child's user+system CPU time so far.
func (ch *child) cpu() time.Duration { return benchkit.StatCPU(strconv.Itoa(ch.cmd.Process.Pid)) }

// stop closes the child's standard input (it shuts down gracefully, as on
// SIGTERM) and kills it if it has not exited after grace.
func (ch *child) stop(grace time.Duration) {
	ch.once.Do(func() {
		t0 := time.Now()
		ch.stdin.Close()
		select {
		case <-ch.done:
		case <-time.After(grace):
			fmt.Fprintf(os.Stderr, "ws bench: server child did not stop within %s: killing it\n", grace)
			_ = ch.cmd.Process.Kill()
			<-ch.done
		}
		ch.stopped = time.Since(t0)
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
		if strings.HasPrefix(k, "METACHAT_") || k == "DATABASE_URL" {
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
// a URL selecting it, and the function that drops it.
func createSchema(base string) (string, func(), error) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "wsbench_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create schema on %s: %w", base, err)
	}
	drop := func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			fmt.Fprintf(os.Stderr, "ws bench: drop schema %s: %v\n", schema, err)
		} else {
			benchkit.Progress("dropped PostgreSQL schema %s", schema)
		}
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

// timeline groups latencies by when the message was sent.
type timeline struct {
	mu     sync.Mutex
	start  time.Time
	window time.Duration
	w      []latencies
}

func (t *timeline) begin(start time.Time, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.start, t.window = start, max(time.Second, (d/10).Round(time.Second))
	t.w = make([]latencies, int(d/t.window)+1)
}

func (t *timeline) add(at time.Time, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.window == 0 || at.Before(t.start) {
		return
	}
	i := min(int(at.Sub(t.start)/t.window), len(t.w)-1)
	t.w[i].d = append(t.w[i].d, d)
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

// ---------------------------------------------------------------------------
// Client

type pend struct {
	t0    time.Time
	first bool // the visitor's first message: it creates the conversation
	setup bool // sent before the load phase; not measured
}

// vconn is one visitor's WebSocket.
type vconn struct {
	idx     int
	c       *websocket.Conn
	token   string
	conv    string
	sent    atomic.Int64
	closing atomic.Bool
	done    chan struct{} // closed when the reader ends
	mu      sync.Mutex
	pending map[string]pend
}

// client is the load generator against one server.
type client struct {
	metachat bool
	base     string // http://host:port
	wsURL    string
	pk       string // the web channel's public key
	apiKey   string
	httpc    *http.Client // sessions and the tenant API (keep-alive)
	wsc      *http.Client // WebSocket handshakes

	pending   atomic.Int64 // visitor messages sent and not yet seen back
	delivered atomic.Int64
	unmatched atomic.Int64 // message frames with a client_id nobody waits for
	lost      atomic.Int64 // connections that ended while they should not
	errFrames errCount
	runErrs   errCount
	first     latencies
	later     latencies
	timeline  timeline

	agentMu      sync.Mutex
	agentPending map[string]time.Time
	agentLat     latencies
	agentHTTP    latencies
	agentErrs    errCount
	agentSent    atomic.Int64
	agentGot     atomic.Int64
}

func newClient(metachat bool, base string, concurrency int) *client {
	tr := &http.Transport{Proxy: nil, MaxIdleConns: concurrency * 2, MaxIdleConnsPerHost: concurrency * 2, IdleConnTimeout: 90 * time.Second,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	wtr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	ws := "ws" + strings.TrimPrefix(base, "http")
	path := "/"
	if metachat {
		path = "/api/v1/widget/ws"
	}
	return &client{metachat: metachat, base: base, wsURL: ws + path, httpc: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		wsc: &http.Client{Transport: wtr}, agentPending: map[string]time.Time{}}
}

type sessionAnswer struct {
	VisitorToken   string  `json:"visitor_token"`
	ConversationID *string `json:"conversation_id"`
}

func (cl *client) session(ctx context.Context, token string) (sessionAnswer, error) {
	var a sessionAnswer
	body, _ := json.Marshal(map[string]string{"public_key": cl.pk, "visitor_token": token})
	st, b, err := cl.do(ctx, "POST", "/api/v1/widget/sessions", "", body)
	if err != nil {
		return a, fmt.Errorf("session: %w", err)
	}
	if st != http.StatusOK {
		return a, fmt.Errorf("session: status %d: %s", st, trim(b))
	}
	if err := json.Unmarshal(b, &a); err != nil || a.VisitorToken == "" {
		return a, fmt.Errorf("session: bad answer: %s", trim(b))
	}
	return a, nil
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
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b, err
}

func trim(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

type openStats struct {
	attempted int
	errs      errCount
	wall      time.Duration
	sess      latencies // session POST
	total     latencies // session + handshake + hello → ready
}

// open starts one visitor: session, WebSocket, hello, ready.
func (cl *client) open(ctx context.Context, idx int, st *openStats) (*vconn, error) {
	t0 := time.Now()
	token := ""
	if cl.metachat {
		a, err := cl.session(ctx, "")
		if err != nil {
			return nil, err
		}
		st.sess.add(time.Since(t0))
		token = a.VisitorToken
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, cl.wsURL, &websocket.DialOptions{HTTPClient: cl.wsc, CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	c.SetReadLimit(1 << 20)
	hello, _ := json.Marshal(map[string]any{"type": "hello", "token": token, "after_seq": 0})
	if err := c.Write(dctx, websocket.MessageText, hello); err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("hello: %w", err)
	}
	_, b, err := c.Read(dctx)
	if err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("waiting for ready: %w", err)
	}
	var f struct{ Type string }
	_ = json.Unmarshal(b, &f)
	want := "hello" // the echo sends it back
	if cl.metachat {
		want = "ready"
	}
	if f.Type != want {
		c.CloseNow()
		return nil, fmt.Errorf("first frame is not %s: %s", want, trim(b))
	}
	st.total.add(time.Since(t0))
	v := &vconn{idx: idx, c: c, token: token, done: make(chan struct{})}
	go cl.read(v)
	return v, nil
}

// openMany opens n connections numbered from first, concurrency at a time.
func (cl *client) openMany(ctx context.Context, first, n, concurrency int, limit time.Duration) ([]*vconn, *openStats) {
	st := &openStats{attempted: n}
	out := make([]*vconn, n)
	t0 := time.Now()
	deadline := t0.Add(limit)
	maxErrs := max(100, n/10)
	var next atomic.Int64
	var wg sync.WaitGroup
	var lastReport atomic.Int64
	lastReport.Store(t0.Unix())
	var opened atomic.Int64
	for w := 0; w < concurrency; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || time.Now().After(deadline) || st.errs.total() > maxErrs {
					return
				}
				v, err := cl.open(ctx, first+i, st)
				if err != nil {
					st.errs.add(err.Error())
					continue
				}
				out[i] = v
				k := opened.Add(1)
				if now := time.Now().Unix(); n >= 2000 && now-lastReport.Load() >= 3 && lastReport.Swap(now) != now {
					benchkit.Progress("  opened %d/%d", k, n)
				}
			}
		})
	}
	wg.Wait()
	st.wall = time.Since(t0)
	if int(next.Load()) < n {
		st.errs.add(fmt.Sprintf("stopped opening after %s or too many errors", limit))
	}
	return slices.DeleteFunc(out, func(v *vconn) bool { return v == nil }), st
}

// inFrame is what the client reads from a server frame.
type inFrame struct {
	Type     string `json:"type"`
	ClientID string `json:"client_id"`
	Code     string `json:"code"`
	Message  struct {
		Role     string `json:"role"`
		Text     string `json:"text"`
		ClientID string `json:"client_id"`
	} `json:"message"`
}

// read receives frames until the connection ends.
func (cl *client) read(v *vconn) {
	defer close(v.done)
	for {
		_, b, err := v.c.Read(context.Background())
		if err != nil {
			if !v.closing.Load() {
				cl.lost.Add(1)
				reason := "closed: " + err.Error()
				if s := websocket.CloseStatus(err); s != -1 {
					reason = "closed by server: " + s.String()
				}
				cl.runErrs.add("connection lost: " + reason)
			}
			return
		}
		now := time.Now()
		var f inFrame
		if err := json.Unmarshal(b, &f); err != nil {
			cl.runErrs.add("bad frame from server: " + err.Error())
			continue
		}
		switch f.Type {
		case "message":
			if f.Message.Role == "agent" {
				cl.agentDelivered(f.Message.Text, now)
				continue
			}
			id := f.Message.ClientID
			if !cl.metachat {
				id = f.ClientID
			}
			cl.resolve(v, id, now)
		case "error":
			cl.errFrames.add(f.Code)
			if f.ClientID != "" {
				v.mu.Lock()
				_, ok := v.pending[f.ClientID]
				delete(v.pending, f.ClientID)
				v.mu.Unlock()
				if ok {
					cl.pending.Add(-1)
				}
			}
		}
	}
}

func (cl *client) resolve(v *vconn, id string, now time.Time) {
	v.mu.Lock()
	p, ok := v.pending[id]
	delete(v.pending, id)
	v.mu.Unlock()
	if !ok {
		if id != "" {
			cl.unmatched.Add(1)
		}
		return
	}
	cl.pending.Add(-1)
	if p.setup {
		return
	}
	cl.delivered.Add(1)
	cl.timeline.add(p.t0, now.Sub(p.t0))
	if p.first {
		cl.first.add(now.Sub(p.t0))
	} else {
		cl.later.add(now.Sub(p.t0))
	}
}

// send writes one visitor message frame, registered as pending first.
func (cl *client) send(v *vconn, text string, setup bool) error {
	n := v.sent.Add(1)
	id := fmt.Sprintf("v%d-%d", v.idx, n)
	frame, _ := json.Marshal(map[string]string{"type": "message", "client_id": id, "text": text})
	v.mu.Lock()
	if v.pending == nil {
		v.pending = map[string]pend{}
	}
	v.pending[id] = pend{t0: time.Now(), first: n == 1, setup: setup}
	v.mu.Unlock()
	cl.pending.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := v.c.Write(ctx, websocket.MessageText, frame); err != nil {
		v.mu.Lock()
		delete(v.pending, id)
		v.mu.Unlock()
		cl.pending.Add(-1)
		return err
	}
	return nil
}

func (cl *client) agentDelivered(text string, now time.Time) {
	cl.agentMu.Lock()
	t0, ok := cl.agentPending[text]
	delete(cl.agentPending, text)
	cl.agentMu.Unlock()
	if ok {
		cl.agentGot.Add(1)
		cl.agentLat.add(now.Sub(t0))
	}
}

// waitPending waits until every sent message came back, or limit.
func (cl *client) waitPending(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		cl.agentMu.Lock()
		agents := len(cl.agentPending)
		cl.agentMu.Unlock()
		if cl.pending.Load() == 0 && agents == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closeAll closes connections gracefully, concurrency at a time.
func closeAll(conns []*vconn, concurrency int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				v := conns[i]
				v.closing.Store(true)
				_ = v.c.Close(websocket.StatusNormalClosure, "")
			}
		})
	}
	wg.Wait()
}

// loadResult is the load phase's outcome.
type loadResult struct {
	planned, sent, sendErrs int
	sendPhase               time.Duration
	elapsed                 time.Duration // send phase and the wait for the last deliveries
	lag                     summary       // how late sends started against the schedule
	lost                    int           // connections lost during the phase
	undelivered             int
	serverCPU, clientCPU    time.Duration
	dbCPU                   time.Duration      // local PostgreSQL processes, when that is the database
	pool                    map[string]float64 // go_sql_* metrics of the store's pool: change over the phase
}

// load sends rate messages per second, round-robin over conns, for d; and
// agent messages to agentConvs at agentRate.
func (cl *client) load(conns []*vconn, rate float64, d time.Duration, agentConvs []string, agentRate float64) loadResult {
	var r loadResult
	r.planned = int(rate * d.Seconds())
	lostBefore := cl.lost.Load()
	type job struct {
		i   int
		due time.Time
	}
	jobs := make(chan job, 8192)
	var lag latencies
	var sent, sendErrs atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Go(func() {
			for j := range jobs {
				lag.add(time.Since(j.due))
				v := conns[j.i%len(conns)]
				if err := cl.send(v, fmt.Sprintf("hello from visitor %d, message %d of the benchmark", v.idx, v.sent.Load()+1), false); err != nil {
					sendErrs.Add(1)
					cl.runErrs.add("send: " + err.Error())
					continue
				}
				sent.Add(1)
			}
		})
	}
	stopAgents := make(chan struct{})
	var agents sync.WaitGroup
	if len(agentConvs) > 0 && agentRate > 0 {
		agents.Go(func() { cl.agentLoop(agentConvs, agentRate, stopAgents) })
	}
	start := time.Now()
	cl.timeline.begin(start, d)
	for i := 0; i < r.planned; i++ {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		jobs <- job{i, due}
	}
	close(jobs)
	wg.Wait()
	close(stopAgents)
	agents.Wait()
	r.sendPhase = time.Since(start)
	r.sent, r.sendErrs = int(sent.Load()), int(sendErrs.Load())
	r.lag = lag.summary()
	cl.waitPending(15 * time.Second)
	r.elapsed = time.Since(start)
	r.undelivered = int(cl.pending.Load())
	r.lost = int(cl.lost.Load() - lostBefore)
	return r
}

// agentLoop posts agent messages through the tenant API, round-robin over
// convs, until stop.
func (cl *client) agentLoop(convs []string, rate float64, stop chan struct{}) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		conv := convs[i%len(convs)]
		text := fmt.Sprintf("agent-%d says hello", i)
		select {
		case sem <- struct{}{}:
		default:
			cl.agentErrs.add("skipped: 16 agent posts already in flight")
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			body, _ := json.Marshal(map[string]string{"text": text, "client_id": fmt.Sprintf("a-%d", i)})
			t0 := time.Now()
			cl.agentMu.Lock()
			cl.agentPending[text] = t0
			cl.agentMu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, b, err := cl.do(ctx, "POST", "/api/v1/conversations/"+conv+"/messages", cl.apiKey, body)
			if err == nil && st != http.StatusCreated {
				err = fmt.Errorf("status %d: %s", st, trim(b))
			}
			if err != nil {
				cl.agentMu.Lock()
				delete(cl.agentPending, text)
				cl.agentMu.Unlock()
				cl.agentErrs.add("post: " + err.Error())
				return
			}
			cl.agentSent.Add(1)
			cl.agentHTTP.add(time.Since(t0))
		})
	}
}

// prestart has every visitor that has not sent yet send one unmeasured
// message, paced at rate, and waits for them to come back.
func (cl *client) prestart(conns []*vconn, rate float64) (int, time.Duration) {
	start := time.Now()
	var wg sync.WaitGroup
	var n atomic.Int64
	sem := make(chan struct{}, 64)
	k := 0
	for _, v := range conns {
		if v.sent.Load() > 0 {
			continue
		}
		if w := time.Until(start.Add(time.Duration(float64(k) * float64(time.Second) / rate))); w > 0 {
			time.Sleep(w)
		}
		k++
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := cl.send(v, "hello, I have a question", true); err != nil {
				cl.runErrs.add("prestart send: " + err.Error())
				return
			}
			n.Add(1)
		})
	}
	wg.Wait()
	cl.waitPending(60 * time.Second)
	return int(n.Load()), time.Since(start)
}

// setupAgentConvs gives the first n visitors a conversation (their first
// message) and learns its id from a session renewal, as the widget does
// on a page load.
func (cl *client) setupAgentConvs(conns []*vconn, n int) ([]string, *errCount) {
	errs := &errCount{}
	n = min(n, len(conns))
	var mu sync.Mutex
	var out []string
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, v := range conns[:n] {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := cl.send(v, "hello, I would like to talk to someone", true); err != nil {
				errs.add("setup send: " + err.Error())
				return
			}
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				a, err := cl.session(ctx, v.token)
				cancel()
				if err != nil {
					errs.add("setup " + err.Error())
					return
				}
				if a.ConversationID != nil && *a.ConversationID != "" {
					v.conv = *a.ConversationID
					mu.Lock()
					out = append(out, v.conv)
					mu.Unlock()
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			errs.add("setup: no conversation after 15s")
		})
	}
	wg.Wait()
	cl.waitPending(15 * time.Second) // the setup messages' own echoes
	return out, errs
}

// ---------------------------------------------------------------------------
// One target (echo or metachat) through all phases

type result struct {
	name         string
	conns        int
	held         int
	open         *openStats
	idleOpened   int
	idle         *openStats
	m0, m1       memSnap // before and after phase 1
	m2a, m2b     memSnap // around the idle sample
	m3           memSnap // after the load phase
	load         loadResult
	heldEnd      int
	cl           *client
	agentConvs   int
	prestarted   int
	prestartTime time.Duration
	agentSetup   *errCount
	shutdown     time.Duration
	logs         *logSummary
}

func runTarget(ctx context.Context, o options, cl0 *benchkit.Cleanup, metachat bool, tmp string) (*result, error) {
	name := "echo"
	if metachat {
		name = "metachat"
	}
	res := &result{name: name, conns: o.conns}
	benchkit.Progress("%s: starting the server", name)
	var ch *child
	var cl *client
	if metachat {
		env := map[string]string{
			"METACHAT_ADDR":                "127.0.0.1:0",
			"METACHAT_DATA_DIR":            filepath.Join(tmp, "data"),
			"METACHAT_RATE_LIMIT_IP":       "1000000",
			"METACHAT_RATE_LIMIT_KEY":      "1000000",
			"METACHAT_WIDGET_SESSION_RATE": "1000000",
			"METACHAT_WIDGET_MESSAGE_RATE": "1000000",
			"METACHAT_LOG_FORMAT":          "json",
			"METACHAT_LOG_LEVEL":           "info",
		}
		if o.dialect == "postgres" {
			u, drop, err := createSchema(o.pgURL)
			if err != nil {
				return nil, err
			}
			cl0.Add(drop)
			env["DATABASE_URL"] = u
		}
		// The tenant, as an operator would make it: `metachat tenant create`.
		var out, errb bytes.Buffer
		code := cli.Run(ctx, []string{"tenant", "create", "--name", "ws-bench", "--json"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
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
		var err error
		ch, err = startChild("serve", childEnv(env), filepath.Join(tmp, "metachat.log"))
		if err != nil {
			return nil, err
		}
		cl0.Add(func() { ch.stop(30 * time.Second) })
		cl = newClient(true, ch.url, o.concurrency)
		cl.apiKey = tc.APIKey
		if err := waitReady(cl); err != nil {
			return nil, err
		}
		body := []byte(`{"type":"web","name":"ws bench","config":{"allowed_origins":[]}}`)
		st, b, err := cl.do(ctx, "POST", "/api/v1/channels", cl.apiKey, body)
		if err != nil || st != http.StatusCreated {
			return nil, fmt.Errorf("create channel: %d %v %s", st, err, trim(b))
		}
		var chv struct {
			PublicKey string `json:"public_key"`
		}
		if err := json.Unmarshal(b, &chv); err != nil || chv.PublicKey == "" {
			return nil, fmt.Errorf("create channel: no public_key in %s", trim(b))
		}
		cl.pk = chv.PublicKey
	} else {
		var err error
		ch, err = startChild("echo", childEnv(nil), filepath.Join(tmp, "echo.log"))
		if err != nil {
			return nil, err
		}
		cl0.Add(func() { ch.stop(10 * time.Second) })
		cl = newClient(false, ch.url, o.concurrency)
	}
	res.cl = cl
	benchkit.Progress("%s: server at %s (pid %d)", name, ch.url, ch.cmd.Process.Pid)

	var err error
	// A few connections first, so that one-time costs (buffer pools,
	// prepared statements, maps growing) are not charged to phase 1.
	warm, _ := cl.openMany(ctx, 1_000_000, min(64, o.conns), o.concurrency, 30*time.Second)
	closeAll(warm, 64)
	for _, v := range warm {
		<-v.done
	}
	time.Sleep(200 * time.Millisecond)
	if res.m0, err = ch.mem(); err != nil {
		return nil, err
	}

	// Phase 1: hold.
	benchkit.Progress("%s: phase 1: opening %d connections (%d at a time)", name, o.conns, o.concurrency)
	conns, ost := cl.openMany(ctx, 0, o.conns, o.concurrency, 120*time.Second)
	res.open, res.held = ost, len(conns)
	benchkit.Progress("%s: phase 1: %d held in %.1fs, %d errors", name, len(conns), ost.wall.Seconds(), ost.errs.total())
	cl0.Add(func() { // on an early stop: let go of what is open
		for _, v := range conns {
			v.closing.Store(true)
			v.c.CloseNow()
		}
	})
	time.Sleep(500 * time.Millisecond)
	if res.m1, err = ch.mem(); err != nil {
		return nil, err
	}

	// Phase 2: idle memory, on a sample of extra connections.
	if o.idleSample > 0 {
		benchkit.Progress("%s: phase 2: %d more idle connections for the memory sample", name, o.idleSample)
		res.m2a = res.m1
		profile(ch, o, "heap", name+"-heap-held.pb.gz")
		extra, ist := cl.openMany(ctx, o.conns, o.idleSample, o.concurrency, 60*time.Second)
		res.idle, res.idleOpened = ist, len(extra)
		time.Sleep(500 * time.Millisecond)
		if res.m2b, err = ch.mem(); err != nil {
			return nil, err
		}
		profile(ch, o, "heap", name+"-heap-idle.pb.gz")
		closeAll(extra, 64)
		for _, v := range extra {
			select {
			case <-v.done:
			case <-time.After(5 * time.Second):
				v.c.CloseNow()
			}
		}
	}

	// Phase 3: load.
	var convs []string
	if metachat && o.agentSample > 0 && o.agentRate > 0 && len(conns) > 0 {
		benchkit.Progress("%s: phase 3: starting %d conversations for the agent→visitor sample", name, min(o.agentSample, len(conns)))
		convs, res.agentSetup = cl.setupAgentConvs(conns, o.agentSample)
		res.agentConvs = len(convs)
	}
	if o.prestart && len(conns) > 0 {
		benchkit.Progress("%s: phase 3: pre-starting conversations at %.0f msg/s (not measured)", name, o.rate)
		res.prestarted, res.prestartTime = cl.prestart(conns, o.rate)
	}
	if len(conns) > 0 {
		benchkit.Progress("%s: phase 3: %.0f msg/s for %s over %d connections", name, o.rate, o.duration, len(conns))
		profile(ch, o, "cpu", name+"-cpu-load.pb.gz")
		pool0 := scrapePool(cl)
		cpu0, ucpu0, db0 := ch.cpu(), benchkit.SelfCPU(), benchkit.ProcsCPU("postgres")
		res.load = cl.load(conns, o.rate, o.duration, convs, o.agentRate)
		res.load.serverCPU, res.load.clientCPU = ch.cpu()-cpu0, benchkit.SelfCPU()-ucpu0
		if metachat && o.dialect == "postgres" {
			res.load.dbCPU = benchkit.ProcsCPU("postgres") - db0
		}
		if pool1 := scrapePool(cl); pool0 != nil && pool1 != nil {
			res.load.pool = map[string]float64{}
			for k, v := range pool1 {
				res.load.pool[k] = v - pool0[k]
			}
		}
		profile(ch, o, "cpustop", "")
		profile(ch, o, "heap", name+"-heap-load.pb.gz")
		benchkit.Progress("%s: phase 3: sent %d, delivered %d, undelivered %d", name, res.load.sent, cl.delivered.Load(), res.load.undelivered)
	}
	if res.m3, err = ch.mem(); err != nil {
		return nil, err
	}
	for _, v := range conns {
		select {
		case <-v.done:
		default:
			res.heldEnd++
		}
	}

	// Stop: the server closes every connection itself (as on SIGTERM).
	benchkit.Progress("%s: stopping the server", name)
	for _, v := range conns {
		v.closing.Store(true)
	}
	ch.stop(30 * time.Second)
	res.shutdown = ch.stopped
	deadline := time.After(10 * time.Second)
	for _, v := range conns {
		select {
		case <-v.done:
		case <-deadline:
			v.c.CloseNow()
		}
	}
	for _, v := range conns {
		v.c.CloseNow()
	}
	cl.httpc.CloseIdleConnections()
	if metachat {
		res.logs = summariseLog(ch.logPath)
	}
	return res, nil
}

// scrapePool reads the store pool's go_sql_* counters from /metrics
// (metachat only; nil otherwise).
func scrapePool(cl *client) map[string]float64 {
	if !cl.metachat {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, b, err := cl.do(ctx, "GET", "/metrics", "", nil)
	if err != nil || st != http.StatusOK {
		return nil
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "go_sql_") {
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

// profile asks the child for a profile when -profile is set.
func profile(ch *child, o options, cmd, file string) {
	if o.profile == "" {
		return
	}
	if file != "" {
		_ = os.MkdirAll(o.profile, 0o755)
		abs, _ := filepath.Abs(filepath.Join(o.profile, file))
		cmd += " " + abs
	}
	if _, err := ch.ctl(cmd); err != nil {
		fmt.Fprintln(os.Stderr, "ws bench: profile:", err)
	}
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

func kb(b float64) string { return fmt.Sprintf("%.1f KB", b/1024) }

func ratio(a, b float64) string {
	if b <= 0 || a <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// perConn is a memory delta per connection.
func perConn(after, before uint64, n int) float64 {
	if n <= 0 {
		return 0
	}
	return (float64(after) - float64(before)) / float64(n)
}

func (r *result) idleRSS() float64 { return perConn(r.m2b.RSS, r.m2a.RSS, r.idleOpened) }
func (r *result) heldRSS() float64 { return perConn(r.m1.RSS, r.m0.RSS, r.held) }

func (r *result) all() summary {
	var l latencies
	l.d = append(slices.Clone(r.cl.first.d), r.cl.later.d...)
	return l.summary()
}

func report(w io.Writer, o options, m machine, e, mc *result, total time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	row := func(name, a, b, rt string) { p("  %-46s %18s %18s %10s", name, a, b, rt) }
	p("")
	p("metachat widget WebSocket benchmark — %s, %s connections, %.0f msg/s for %s, idle sample %d", o.dialect, benchkit.Commas(o.conns), o.rate, o.duration, o.idleSample)
	p("  machine: %d CPUs, %s %s/%s; RLIMIT_NOFILE %d per process; ephemeral ports %s (%d)", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, m.nofile, m.ports, m.portCount)
	p("  servers run as child processes (metachat: cli.Run serve on %s; echo: bare coder/websocket); the client is this process", o.dialect)
	for _, c := range m.capped {
		p("  NOTE: %s", c)
	}
	p("")
	row("", "metachat", "echo", "meta/echo")
	p("  phase 1 — hold")
	row("connections held", fmt.Sprintf("%d/%d", mc.held, mc.conns), fmt.Sprintf("%d/%d", e.held, e.conns), "")
	row("open errors", strconv.Itoa(mc.open.errs.total()), strconv.Itoa(e.open.errs.total()), "")
	row("time to open all", fmt.Sprintf("%.2f s", mc.open.wall.Seconds()), fmt.Sprintf("%.2f s", e.open.wall.Seconds()), ratio(mc.open.wall.Seconds(), e.open.wall.Seconds()))
	row("open rate", fmt.Sprintf("%.0f conn/s", float64(mc.held)/mc.open.wall.Seconds()), fmt.Sprintf("%.0f conn/s", float64(e.held)/e.open.wall.Seconds()), "")
	mo, eo := mc.open.total.summary(), e.open.total.summary()
	row("open one (session+ws+hello→ready) p50", ms(mo.p50), ms(eo.p50), ratio(float64(mo.p50), float64(eo.p50)))
	row("open one p99", ms(mo.p99), ms(eo.p99), ratio(float64(mo.p99), float64(eo.p99)))
	row("  of which session POST p50 / p99", ms(mc.open.sess.summary().p50)+" / "+ms(mc.open.sess.summary().p99), "—", "")
	p("  phase 2 — memory per idle connection (server process, after forced GCs)")
	mRSS1, eRSS1 := mc.heldRSS(), e.heldRSS()
	row(fmt.Sprintf("RSS per conn, average over the %d held", o.conns), kb(mRSS1), kb(eRSS1), ratio(mRSS1, eRSS1))
	mh1, eh1 := perConn(mc.m1.HeapInuse, mc.m0.HeapInuse, mc.held), perConn(e.m1.HeapInuse, e.m0.HeapInuse, e.held)
	ms1, es1 := perConn(mc.m1.StackInuse, mc.m0.StackInuse, mc.held), perConn(e.m1.StackInuse, e.m0.StackInuse, e.held)
	row("  Go heap / goroutine stacks", kb(mh1)+" / "+kb(ms1), kb(eh1)+" / "+kb(es1), ratio(mh1+ms1, eh1+es1))
	row(fmt.Sprintf("RSS per conn, marginal over %d more (sample)", mc.idleOpened), kb(mc.idleRSS()), kb(e.idleRSS()), ratio(mc.idleRSS(), e.idleRSS()))
	mh, eh := perConn(mc.m2b.HeapInuse, mc.m2a.HeapInuse, mc.idleOpened), perConn(e.m2b.HeapInuse, e.m2a.HeapInuse, e.idleOpened)
	ms2, es2 := perConn(mc.m2b.StackInuse, mc.m2a.StackInuse, mc.idleOpened), perConn(e.m2b.StackInuse, e.m2a.StackInuse, e.idleOpened)
	row("  Go heap / goroutine stacks", kb(mh)+" / "+kb(ms2), kb(eh)+" / "+kb(es2), ratio(mh+ms2, eh+es2))
	mg, eg := perConn(uint64(mc.m1.Goroutines), uint64(mc.m0.Goroutines), mc.held), perConn(uint64(e.m1.Goroutines), uint64(e.m0.Goroutines), e.held)
	row("goroutines per conn", fmt.Sprintf("%.2f", mg), fmt.Sprintf("%.2f", eg), ratio(mg, eg))
	row("server RSS: before → with all held", fmt.Sprintf("%.0f → %.0f MB", mb(mc.m0.RSS), mb(mc.m1.RSS)), fmt.Sprintf("%.0f → %.0f MB", mb(e.m0.RSS), mb(e.m1.RSS)), "")
	p("  phase 3 — load (visitor message → server → same socket)")
	ml, el := mc.load, e.load
	row("messages planned / sent", fmt.Sprintf("%d / %d", ml.planned, ml.sent), fmt.Sprintf("%d / %d", el.planned, el.sent), "")
	mrate, erate := float64(ml.sent)/ml.sendPhase.Seconds(), float64(el.sent)/el.sendPhase.Seconds()
	row("achieved send rate", fmt.Sprintf("%.0f msg/s", mrate), fmt.Sprintf("%.0f msg/s", erate), "")
	row("delivered (echoed back with its client_id)", strconv.FormatInt(mc.cl.delivered.Load(), 10), strconv.FormatInt(e.cl.delivered.Load(), 10), "")
	ma, ea := mc.all(), e.all()
	row("delivery p50", ms(ma.p50), ms(ea.p50), ratio(float64(ma.p50), float64(ea.p50)))
	row("delivery p90", ms(ma.p90), ms(ea.p90), ratio(float64(ma.p90), float64(ea.p90)))
	row("delivery p99", ms(ma.p99), ms(ea.p99), ratio(float64(ma.p99), float64(ea.p99)))
	row("delivery max", ms(ma.max), ms(ea.max), ratio(float64(ma.max), float64(ea.max)))
	row("delivery mean", ms(ma.avg), ms(ea.avg), ratio(float64(ma.avg), float64(ea.avg)))
	row("send errors / error frames / undelivered", fmt.Sprintf("%d / %d / %d", ml.sendErrs, mc.cl.errFrames.total(), ml.undelivered), fmt.Sprintf("%d / %d / %d", el.sendErrs, e.cl.errFrames.total(), el.undelivered), "")
	row("connections lost during load / held at end", fmt.Sprintf("%d / %d", ml.lost, mc.heldEnd), fmt.Sprintf("%d / %d", el.lost, e.heldEnd), "")
	row("send start lag vs schedule p99 / max", ms(ml.lag.p99)+" / "+ms(ml.lag.max), ms(el.lag.p99)+" / "+ms(el.lag.max), "")
	mcpu, ecpu := ml.serverCPU.Seconds()/ml.elapsed.Seconds(), el.serverCPU.Seconds()/el.elapsed.Seconds()
	row("server CPU during load+drain (cores)", fmt.Sprintf("%.2f", mcpu), fmt.Sprintf("%.2f", ecpu), ratio(mcpu, ecpu))
	mper, eper := perMsg(ml.serverCPU, ml.sent), perMsg(el.serverCPU, el.sent)
	row("server CPU per message", fmt.Sprintf("%.0f µs", mper), fmt.Sprintf("%.0f µs", eper), ratio(mper, eper))
	if o.dialect == "postgres" {
		row("PostgreSQL CPU during load+drain (cores)", fmt.Sprintf("%.2f", ml.dbCPU.Seconds()/ml.elapsed.Seconds()), "—", "")
	}
	if pl := ml.pool; pl != nil {
		row("store pool: waits for a connection (count / total)", fmt.Sprintf("%.0f / %.1f s", pl["go_sql_wait_count_total"], pl["go_sql_wait_duration_seconds_total"]), "—", "")
		row("store pool: connections closed by the idle limit", fmt.Sprintf("%.0f", pl["go_sql_max_idle_closed_total"]), "—", "")
	}
	row("client (this process) CPU, load+drain (cores)", fmt.Sprintf("%.2f", ml.clientCPU.Seconds()/ml.elapsed.Seconds()), fmt.Sprintf("%.2f", el.clientCPU.Seconds()/el.elapsed.Seconds()), "")
	m3, e3 := perConn(mc.m3.RSS, mc.m0.RSS, mc.held), perConn(e.m3.RSS, e.m0.RSS, e.held)
	row("RSS per conn after load (conversation open)", kb(m3), kb(e3), ratio(m3, e3))
	row("server shutdown (close all, exit)", fmt.Sprintf("%.2f s", mc.shutdown.Seconds()), fmt.Sprintf("%.2f s", e.shutdown.Seconds()), "")

	p("")
	p("  metachat detail")
	if o.prestart {
		p("    -prestart: %d conversations started before the load phase in %.1f s (not measured); echo: %d", mc.prestarted, mc.prestartTime.Seconds(), e.prestarted)
	}
	f, l := mc.cl.first.summary(), mc.cl.later.summary()
	p("    first message (creates the conversation; delivered by catch-up from the store): n=%d p50 %s p90 %s p99 %s max %s", f.n, ms(f.p50), ms(f.p90), ms(f.p99), ms(f.max))
	p("    later messages (delivered through the event bus):                            n=%d p50 %s p90 %s p99 %s max %s", l.n, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max))
	if tl := &mc.cl.timeline; len(tl.w) > 0 {
		note := fmt.Sprintf("; the first %.0f s of sends are mostly first messages", float64(mc.held)/o.rate)
		if o.prestart {
			note = ""
		}
		p("    delivery by send time (window %s%s):", tl.window, note)
		for i := range tl.w {
			w := tl.w[i].summary()
			if w.n == 0 {
				continue
			}
			p("      t=%3.0f–%3.0fs  n=%5d  p50 %9s  p99 %9s  max %9s", (time.Duration(i) * tl.window).Seconds(), (time.Duration(i+1) * tl.window).Seconds(), w.n, ms(w.p50), ms(w.p99), ms(w.max))
		}
	}
	if mc.agentConvs > 0 {
		a, h := mc.cl.agentLat.summary(), mc.cl.agentHTTP.summary()
		p("    agent→visitor (POST /api/v1/conversations/{id}/messages → visitor socket), %d conversations at %.0f/s:", mc.agentConvs, o.agentRate)
		p("      posted %d, received %d; delivery p50 %s p90 %s p99 %s max %s; HTTP answer p50 %s p99 %s", mc.cl.agentSent.Load(), mc.cl.agentGot.Load(), ms(a.p50), ms(a.p90), ms(a.p99), ms(a.max), ms(h.p50), ms(h.p99))
	}
	problems := func(label string, e *errCount) {
		if t := e.top(6); len(t) > 0 {
			p("    %s:", label)
			for _, s := range t {
				p("      %s", s)
			}
		}
	}
	problems("metachat open errors", &mc.open.errs)
	if mc.idle != nil {
		problems("metachat idle-sample open errors", &mc.idle.errs)
	}
	problems("metachat error frames (by code)", &mc.cl.errFrames)
	problems("metachat run errors", &mc.cl.runErrs)
	if mc.agentSetup != nil {
		problems("agent sample set-up errors", mc.agentSetup)
	}
	problems("agent post errors", &mc.cl.agentErrs)
	problems("echo open errors", &e.open.errs)
	problems("echo run errors", &e.cl.runErrs)
	if mc.cl.unmatched.Load() > 0 || e.cl.unmatched.Load() > 0 {
		p("    message frames with an unknown client_id (duplicates): metachat %d, echo %d", mc.cl.unmatched.Load(), e.cl.unmatched.Load())
	}
	if mc.logs != nil {
		st := make([]string, 0, len(mc.logs.byStatus))
		for k, v := range mc.logs.byStatus {
			st = append(st, fmt.Sprintf("%s %d", k, v))
		}
		sort.Strings(st)
		p("    server log: %d lines; access log statuses: %s", mc.logs.lines, strings.Join(st, ", "))
		problems("server log warnings and errors", &mc.logs.problems)
	}

	p("")
	p("  %s concurrent connections: held %s (target %d)", benchkit.Commas(o.conns), benchkit.Commas(mc.held), o.conns)
	p("  p99 delivery at %.0f msg/s: %s (target < 100 ms) [echo baseline %s, ratio %s; achieved %.0f msg/s, %d undelivered]", o.rate, ms(ma.p99), ms(ea.p99), ratio(float64(ma.p99), float64(ea.p99)), mrate, ml.undelivered)
	p("  per idle connection: %s (target < 20 KB) [server RSS growth after GC averaged over the %s held; marginal over %d more: %s; echo baseline %s, ratio %s]",
		kb(mc.heldRSS()), benchkit.Commas(mc.held), mc.idleOpened, kb(mc.idleRSS()), kb(e.heldRSS()), ratio(mc.heldRSS(), e.heldRSS()))
	p("  whole run: %.0f s", total.Seconds())
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }

func perMsg(cpu time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}
