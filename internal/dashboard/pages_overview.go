package dashboard

// The overview: the first-run guide while the tenant has no conversations,
// and the figures of the last 7, 30 or 90 days, read only from the daily
// rows the periodic analytics job computes (internal/jobs/analytics.go),
// never from the messages themselves.

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// setupStep is one step of the first-run guide on the overview.
type setupStep struct {
	Title, Text, Link, Action string // catalogue keys, except Link
}

// setupSteps are what a new tenant does first, in order.
var setupSteps = []setupStep{
	{"setup.knowledge.title", "setup.knowledge.text", "/app/knowledge", "setup.knowledge.action"},
	{"setup.instructions.title", "setup.instructions.text", "/app/assistants", "setup.instructions.action"},
	{"setup.playground.title", "setup.playground.text", "/app/assistants", "setup.playground.action"},
	{"setup.channel.title", "setup.channel.text", "/app/channels", "setup.channel.action"},
}

// overviewRanges are the date ranges the overview offers, in days.
var overviewRanges = []int{7, 30, 90}

const defaultOverviewDays = 30

// overviewData is the overview page's own data.
type overviewData struct {
	NoTenant  bool
	ShowSetup bool // the tenant has no conversation yet
	Steps     []setupStep
	Stats     *overviewStats
}

// overviewStats are the figures of a range of days.
type overviewStats struct {
	Ranges   []int
	DaysN    int
	From, To string
	Rows     []store.DailyStats // every day of the range, oldest first (zeros where none)
	Computed *time.Time         // when the newest row was computed; nil: never
	HasData  bool

	Conversations, MessagesIn, MessagesOut int64
	ResolvedShare, HandoffRate, HitRate    string // "" when there is nothing to divide by
	FirstP50, FirstP95                     string // "" without a first response
	Approximate                            bool   // percentiles merged from several days

	ConvChart, MsgChart chart
	Documents           []store.CitedDocument
	Questions           []store.UnansweredQuestion
}

// overviewRange reads ?days= (7, 30 or 90; anything else is 30) and
// returns the range's first and last day, today last.
func (h *Handler) overviewRange(r *http.Request) (days int, from, to time.Time) {
	days = defaultOverviewDays
	if n, err := strconv.Atoi(r.URL.Query().Get("days")); err == nil {
		for _, d := range overviewRanges {
			if n == d {
				days = n
			}
		}
	}
	to = h.now().UTC().Truncate(24 * time.Hour)
	return days, to.AddDate(0, 0, -(days - 1)), to
}

// overview serves GET /app/: a user with no tenant selected is asked to
// pick one; a member sees the first-run guide (until the first
// conversation) and the figures.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	if p.TenantID == "" {
		return h.render(w, r, http.StatusOK, "overview", page{Title: "overview.title", Nav: "overview", Data: overviewData{NoTenant: true, Steps: setupSteps}})
	}
	if !Viewer.allows(p) {
		return apperr.New(apperr.Forbidden, "role")
	}
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	days, from, to := h.overviewRange(r)
	lang := infoOf(r).lang
	s := &overviewStats{DaysN: days, Ranges: overviewRanges, From: from.Format(store.DayFormat), To: to.Format(store.DayFormat)}
	var rows []store.DailyStats
	var hasConv bool
	err = h.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		var err error
		if hasConv, err = tx.HasConversations(r.Context()); err != nil {
			return err
		}
		if rows, err = tx.AnalyticsDays(r.Context(), s.From, s.To); err != nil {
			return err
		}
		if s.Documents, err = tx.TopCitedDocuments(r.Context(), s.From, s.To, 10); err != nil {
			return err
		}
		s.Questions, err = tx.TopUnanswered(r.Context(), s.From, s.To, 10)
		return err
	})
	if err != nil {
		return err
	}
	s.fill(rows, from, days, func(key string, args ...any) string { return h.cat.text(lang, key, args...) })
	return h.render(w, r, http.StatusOK, "overview", page{Title: "overview.title", Nav: "overview",
		Data: overviewData{ShowSetup: !hasConv, Steps: setupSteps, Stats: s}})
}

// fill totals the rows and lays out the charts; t translates.
func (s *overviewStats) fill(rows []store.DailyStats, from time.Time, days int, t func(string, ...any) string) {
	byDay := map[string]store.DailyStats{}
	hist := make([]int64, len(store.FirstResponseBuckets)+1)
	var resolved, handoffs, hits, misses, withFirst int64
	var single store.DailyStats
	for _, r := range rows {
		byDay[r.Day] = r
		s.Conversations += r.Conversations
		s.MessagesIn += r.MessagesIn
		s.MessagesOut += r.MessagesOut
		resolved += r.ResolvedByBot
		handoffs += r.Handoffs
		hits += r.KnowledgeHits
		misses += r.KnowledgeMisses
		for i, n := range r.FirstResponseHist {
			if i < len(hist) {
				hist[i] += n
			}
		}
		if r.FirstResponses > 0 {
			withFirst++
			single = r
		}
		if s.Computed == nil || r.ComputedAt.After(*s.Computed) {
			c := r.ComputedAt
			s.Computed = &c
		}
	}
	s.HasData = s.Conversations+s.MessagesIn+s.MessagesOut > 0
	pct := func(n, of int64) string {
		if of == 0 {
			return ""
		}
		return t("overview.percent", strconv.FormatFloat(float64(n)*100/float64(of), 'f', 0, 64))
	}
	s.ResolvedShare, s.HandoffRate, s.HitRate = pct(resolved, s.Conversations), pct(handoffs, s.Conversations), pct(hits, hits+misses)
	switch {
	case withFirst == 1:
		s.FirstP50, s.FirstP95 = formatDuration(single.FirstResponseP50), formatDuration(single.FirstResponseP95)
	case withFirst > 1:
		s.FirstP50, s.FirstP95 = formatDuration(store.FirstResponsePercentile(hist, 50)), formatDuration(store.FirstResponsePercentile(hist, 95))
		s.Approximate = true
	}
	for i := range days {
		d := from.AddDate(0, 0, i).Format(store.DayFormat)
		r, ok := byDay[d]
		if !ok {
			r = store.DailyStats{Day: d}
		}
		s.Rows = append(s.Rows, r)
	}
	labels := make([]string, len(s.Rows))
	conv := make([][]int64, len(s.Rows))
	msgs := make([][]int64, len(s.Rows))
	for i, r := range s.Rows {
		labels[i] = r.Day
		conv[i] = []int64{r.Conversations}
		msgs[i] = []int64{r.MessagesIn, r.MessagesOut}
	}
	s.ConvChart = newChart("chart-conversations", t("overview.chart.conversations"),
		t("overview.chart.conversations.desc", s.Conversations, s.From, s.To), labels, conv, []string{"bar-conv"},
		func(i int) string { return t("overview.chart.conversations.bar", labels[i], conv[i][0]) })
	s.MsgChart = newChart("chart-messages", t("overview.chart.messages"),
		t("overview.chart.messages.desc", s.MessagesIn, s.MessagesOut, s.From, s.To), labels, msgs, []string{"bar-in", "bar-out"},
		func(i int) string { return t("overview.chart.messages.bar", labels[i], msgs[i][0], msgs[i][1]) })
}

// formatDuration is a short human duration: 4 s, 2 min 5 s, 3 h 10 min.
func formatDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}

// chart is a server-rendered bar chart (stacked when a day has several
// series), drawn in a fixed viewBox the stylesheet scales.
type chart struct {
	ID, Title, Desc string
	W, H            int
	Bars            []chartBar
	Grid            []chartLine
	XLabels         []chartLabel
	PlotLeft        int
	PlotRight       int
	Baseline        int
}

type chartBar struct {
	X, Y, W, H int
	Class      string
	Title      string // the day's figures, for pointer users
}

type chartLine struct {
	Y     int
	Label string
}

type chartLabel struct {
	X      int
	Label  string
	Anchor string // text-anchor: start, middle or end
}

// newChart lays out values (per day, per series) as stacked bars.
func newChart(id, title, desc string, labels []string, values [][]int64, classes []string, barTitle func(int) string) chart {
	const w, h, left, right, top, bottom = 720, 230, 44, 8, 12, 30
	c := chart{ID: id, Title: title, Desc: desc, W: w, H: h, PlotLeft: left, PlotRight: w - right, Baseline: h - bottom}
	var peak int64
	for _, v := range values {
		var sum int64
		for _, n := range v {
			sum += n
		}
		peak = max(peak, sum)
	}
	scale := niceMax(peak)
	plotH := h - top - bottom
	for _, f := range []int64{0, scale / 2, scale} {
		y := c.Baseline - int(f*int64(plotH)/scale)
		c.Grid = append(c.Grid, chartLine{Y: y, Label: strconv.FormatInt(f, 10)})
	}
	n := max(len(values), 1)
	slot := float64(w-left-right) / float64(n)
	barW := max(1, int(slot*0.7))
	for i, v := range values {
		x := left + int(slot*float64(i)+(slot-float64(barW))/2)
		y := c.Baseline
		for k, val := range v {
			bh := int(val * int64(plotH) / scale)
			if val == 0 {
				continue // the hidden table lists zeros
			}
			bh = max(bh, 1)
			y -= bh
			c.Bars = append(c.Bars, chartBar{X: x, Y: y, W: barW, H: bh, Class: classes[k%len(classes)], Title: barTitle(i)})
		}
	}
	if len(labels) > 0 {
		c.XLabels = []chartLabel{{X: left, Label: labels[0], Anchor: "start"},
			{X: left + int(slot*float64(len(labels)/2)+slot/2), Label: labels[len(labels)/2], Anchor: "middle"},
			{X: w - right, Label: labels[len(labels)-1], Anchor: "end"}}
		if len(labels) < 3 {
			c.XLabels = c.XLabels[:1]
		}
	}
	return c
}

// niceMax rounds a chart's peak up to 1, 2 or 5 times a power of ten
// (at least 2, so the half-way grid line is a whole number).
func niceMax(n int64) int64 {
	if n <= 2 {
		return 2
	}
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{1, 2, 5} {
			if m*p >= n && (m*p)%2 == 0 {
				return m * p
			}
		}
	}
}

// overviewCSV serves GET /app/overview.csv?days=30&table=daily|documents|questions:
// the overview's figures as a spreadsheet-safe CSV download.
func (h *Handler) overviewCSV(w http.ResponseWriter, r *http.Request) error {
	p := auth.FromContext(r.Context())
	scope, err := p.Scope()
	if err != nil {
		return err
	}
	table := r.URL.Query().Get("table")
	if table == "" {
		table = "daily"
	}
	if table != "daily" && table != "documents" && table != "questions" {
		return apperr.New(apperr.NotFound, "no such table")
	}
	days, fromT, toT := h.overviewRange(r)
	from, to := fromT.Format(store.DayFormat), toT.Format(store.DayFormat)
	var records [][]string
	err = h.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		switch table {
		case "daily":
			rows, err := tx.AnalyticsDays(r.Context(), from, to)
			if err != nil {
				return err
			}
			records = append(records, []string{"day", "conversations", "messages_in", "messages_out", "resolved_by_bot", "handoffs",
				"first_responses", "first_response_p50_ms", "first_response_p95_ms", "knowledge_hits", "knowledge_misses", "computed_at"})
			for _, d := range rows {
				records = append(records, []string{d.Day, i64(d.Conversations), i64(d.MessagesIn), i64(d.MessagesOut), i64(d.ResolvedByBot), i64(d.Handoffs),
					i64(d.FirstResponses), i64(d.FirstResponseP50.Milliseconds()), i64(d.FirstResponseP95.Milliseconds()),
					i64(d.KnowledgeHits), i64(d.KnowledgeMisses), d.ComputedAt.UTC().Format(time.RFC3339)})
			}
		case "documents":
			docs, err := tx.TopCitedDocuments(r.Context(), from, to, 1000)
			if err != nil {
				return err
			}
			records = append(records, []string{"document_id", "title", "citations"})
			for _, d := range docs {
				records = append(records, []string{d.DocumentID, csvText(d.Title), i64(d.Citations)})
			}
		case "questions":
			qs, err := tx.TopUnanswered(r.Context(), from, to, 1000)
			if err != nil {
				return err
			}
			records = append(records, []string{"question", "count"})
			for _, q := range qs {
				records = append(records, []string{csvText(q.Question), i64(q.Count)})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var b strings.Builder
	cw := csv.NewWriter(&b)
	if err := cw.WriteAll(records); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/csv; charset=utf-8")
	hd.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="metachat-%s-%dd-%s.csv"`, table, days, to))
	hd.Set("Cache-Control", "no-store")
	_, err = w.Write([]byte(b.String()))
	return err
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// csvText neutralises a text cell a spreadsheet would run as a formula
// (one starting with = + - @, a tab or a carriage return) by prefixing an
// apostrophe; encoding/csv does the quoting.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// notFound serves unknown paths under /app/.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) error {
	return apperr.New(apperr.NotFound, "no such page")
}

func itoa(n int) string { return strconv.Itoa(n) }

func asErr(err error, target **apperr.Error) bool { return errors.As(err, target) }
