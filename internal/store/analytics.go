package store

// Daily analytics: ComputeAnalyticsDay turns one tenant-day of
// conversations and messages into rows of analytics_daily (and its
// documents and unanswered questions), which the periodic analytics job
// refreshes; the overview reads only those rows.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// DayFormat is how analytics name a day (UTC).
const DayFormat = "2006-01-02"

// DailyStats is one tenant-day of analytics. Conversations count on the
// day they started; messages on the day they were written.
type DailyStats struct {
	Day           string // YYYY-MM-DD, UTC
	Conversations int64
	MessagesIn    int64 // from contacts
	MessagesOut   int64 // from the assistant and agents
	// ResolvedByBot counts the day's conversations resolved without any
	// agent message; Handoffs those that reached a person.
	ResolvedByBot int64
	Handoffs      int64
	// FirstResponses counts the day's conversations with a first response
	// (the first assistant or agent message after the first user message);
	// the percentiles are exact for the day, FirstResponseHist buckets the
	// same samples (bounds FirstResponseBuckets) so days can be combined.
	FirstResponses    int64
	FirstResponseP50  time.Duration
	FirstResponseP95  time.Duration
	FirstResponseHist []int64
	// KnowledgeHits and KnowledgeMisses count the assistant's replies that
	// searched the knowledge and found at least one passage, or none.
	KnowledgeHits   int64
	KnowledgeMisses int64
	ComputedAt      time.Time
}

// CitedDocument is a document and how often replies cited it.
type CitedDocument struct {
	DocumentID string
	Title      string // the current title, else the title as cited
	Exists     bool   // the document has not been deleted since
	Citations  int64
}

// UnansweredQuestion is a question the knowledge had no answer for.
type UnansweredQuestion struct {
	Question string
	Count    int64
}

// FirstResponseBuckets are the upper bounds of the first-response
// histogram; the last bucket is unbounded.
var FirstResponseBuckets = []time.Duration{
	time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second, 8 * time.Second,
	13 * time.Second, 20 * time.Second, 30 * time.Second, 45 * time.Second, time.Minute,
	2 * time.Minute, 3 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
	30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 24 * time.Hour,
}

// reasonAskedForPerson is the reason an assistant records when a
// visitor asked for a person: no knowledge search ran.
const reasonAskedForPerson = "visitor asked for a person"

// replyMeta is the part of an assistant reply's meta analytics read (see
// assistants.Meta).
type replyMeta struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Passages int    `json:"passages"`
}

type citation struct {
	DocumentID string `json:"document_id"`
	Title      string `json:"title"`
}

// ComputeAnalyticsDay recomputes the tenant's analytics of the UTC day
// holding day and stores them, replacing what was there.
func (t *Tx) ComputeAnalyticsDay(ctx context.Context, day time.Time) (DailyStats, error) {
	start := day.UTC().Truncate(24 * time.Hour)
	from, to := micros(start), micros(start.Add(24*time.Hour))
	s := DailyStats{Day: start.Format(DayFormat), ComputedAt: t.Now}

	// The day's conversations and their messages.
	type conv struct {
		status                  string
		agent, handoff          bool
		firstUser, firstAnswer  int64
		sawUser, sawFirstAnswer bool
	}
	convs := map[string]*conv{}
	rows, err := t.query(ctx, `SELECT id, status FROM conversations WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3`, t.tenant(), from, to)
	if err != nil {
		return s, fmt.Errorf("analytics conversations: %w", err)
	}
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			rows.Close()
			return s, err
		}
		convs[id] = &conv{status: status}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}
	s.Conversations = int64(len(convs))
	if len(convs) > 0 {
		rows, err = t.query(ctx, `SELECT m.conversation_id, m.role, m.created_at, m.meta FROM messages m
JOIN conversations c ON c.tenant_id = m.tenant_id AND c.id = m.conversation_id
WHERE c.tenant_id = $1 AND m.tenant_id = $1 AND c.created_at >= $2 AND c.created_at < $3 AND m.role IN ('user', 'assistant', 'agent')
ORDER BY m.conversation_id, m.seq`, t.tenant(), from, to)
		if err != nil {
			return s, fmt.Errorf("analytics conversation messages: %w", err)
		}
		for rows.Next() {
			var id, role, meta string
			var at int64
			if err := rows.Scan(&id, &role, &at, &meta); err != nil {
				rows.Close()
				return s, err
			}
			c := convs[id]
			if c == nil {
				continue
			}
			switch role {
			case "user":
				if !c.sawUser {
					c.sawUser, c.firstUser = true, at
				}
				continue
			case "agent":
				c.agent = true
			case "assistant":
				var m replyMeta
				if json.Unmarshal([]byte(meta), &m) == nil && m.Decision == "handoff" {
					c.handoff = true
				}
			}
			if c.sawUser && !c.sawFirstAnswer {
				c.sawFirstAnswer, c.firstAnswer = true, at
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s, err
		}
	}
	var samples []time.Duration
	s.FirstResponseHist = make([]int64, len(FirstResponseBuckets)+1)
	for _, c := range convs {
		if c.status == "resolved" && !c.agent {
			s.ResolvedByBot++
		}
		if c.agent || c.handoff || c.status == "human" {
			s.Handoffs++
		}
		if c.sawFirstAnswer {
			d := time.Duration(max(0, c.firstAnswer-c.firstUser)) * time.Microsecond
			samples = append(samples, d)
			s.FirstResponseHist[bucketOf(d)]++
		}
	}
	s.FirstResponses = int64(len(samples))
	slices.Sort(samples)
	s.FirstResponseP50, s.FirstResponseP95 = nearestRank(samples, 50), nearestRank(samples, 95)

	// The day's messages: volumes, knowledge hits, citations, questions
	// without an answer (the inbound message a reply answers).
	docs := map[string]*CitedDocument{}
	type question struct {
		text  string
		count int64
	}
	questions := map[string]*question{}
	rows, err = t.query(ctx, `SELECT m.role, m.meta, m.citations, COALESCE(q.text, '') FROM messages m
LEFT JOIN messages q ON q.tenant_id = m.tenant_id AND q.id = m.reply_to
WHERE m.tenant_id = $1 AND m.created_at >= $2 AND m.created_at < $3 AND m.role IN ('user', 'assistant', 'agent')`, t.tenant(), from, to)
	if err != nil {
		return s, fmt.Errorf("analytics messages: %w", err)
	}
	for rows.Next() {
		var role, meta, cites, asked string
		if err := rows.Scan(&role, &meta, &cites, &asked); err != nil {
			rows.Close()
			return s, err
		}
		if role == "user" {
			s.MessagesIn++
			continue
		}
		s.MessagesOut++
		if role != "assistant" {
			continue
		}
		var cs []citation
		_ = json.Unmarshal([]byte(cites), &cs)
		seen := map[string]bool{}
		for _, c := range cs {
			if !ValidID(c.DocumentID) || seen[c.DocumentID] {
				continue
			}
			seen[c.DocumentID] = true
			d := docs[c.DocumentID]
			if d == nil {
				d = &CitedDocument{DocumentID: c.DocumentID}
				docs[c.DocumentID] = d
			}
			d.Citations++
			if d.Title == "" {
				d.Title = c.Title
			}
		}
		var m replyMeta
		if json.Unmarshal([]byte(meta), &m) != nil || m.Decision == "" || m.Reason == reasonAskedForPerson {
			continue // not a reply that searched the knowledge
		}
		found := m.Passages > 0 || len(seen) > 0
		if found {
			s.KnowledgeHits++
		} else {
			s.KnowledgeMisses++
		}
		if (!found || m.Decision == "no_answer") && asked != "" {
			norm := normaliseQuestion(asked)
			if norm == "" {
				continue
			}
			sum := sha256.Sum256([]byte(strings.ToLower(norm)))
			h := hex.EncodeToString(sum[:16])
			if q := questions[h]; q != nil {
				q.count++
			} else {
				questions[h] = &question{text: norm, count: 1}
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s, err
	}

	// Store the day, replacing the previous computation.
	_, err = t.exec(ctx, `INSERT INTO analytics_daily (tenant_id, day, conversations, messages_in, messages_out, resolved_by_bot, handoffs,
first_responses, first_response_p50_ms, first_response_p95_ms, first_response_hist, knowledge_hits, knowledge_misses, computed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (tenant_id, day) DO UPDATE SET conversations = excluded.conversations, messages_in = excluded.messages_in,
messages_out = excluded.messages_out, resolved_by_bot = excluded.resolved_by_bot, handoffs = excluded.handoffs,
first_responses = excluded.first_responses, first_response_p50_ms = excluded.first_response_p50_ms,
first_response_p95_ms = excluded.first_response_p95_ms, first_response_hist = excluded.first_response_hist,
knowledge_hits = excluded.knowledge_hits, knowledge_misses = excluded.knowledge_misses, computed_at = excluded.computed_at`,
		t.tenant(), s.Day, s.Conversations, s.MessagesIn, s.MessagesOut, s.ResolvedByBot, s.Handoffs,
		s.FirstResponses, s.FirstResponseP50.Milliseconds(), s.FirstResponseP95.Milliseconds(), formatHist(s.FirstResponseHist),
		s.KnowledgeHits, s.KnowledgeMisses, micros(t.Now))
	if err != nil {
		return s, fmt.Errorf("store analytics day: %w", err)
	}
	for _, table := range []string{"analytics_daily_documents", "analytics_daily_unanswered"} {
		if _, err := t.exec(ctx, `DELETE FROM `+table+` WHERE tenant_id = $1 AND day = $2`, t.tenant(), s.Day); err != nil {
			return s, fmt.Errorf("clear %s: %w", table, err)
		}
	}
	for _, d := range docs {
		if _, err := t.exec(ctx, `INSERT INTO analytics_daily_documents (tenant_id, day, document_id, title, citations) VALUES ($1, $2, $3, $4, $5)`,
			t.tenant(), s.Day, d.DocumentID, d.Title, d.Citations); err != nil {
			return s, fmt.Errorf("store cited document: %w", err)
		}
	}
	for h, q := range questions {
		if _, err := t.exec(ctx, `INSERT INTO analytics_daily_unanswered (tenant_id, day, question_hash, question, asked) VALUES ($1, $2, $3, $4, $5)`,
			t.tenant(), s.Day, h, q.text, q.count); err != nil {
			return s, fmt.Errorf("store unanswered question: %w", err)
		}
	}
	return s, nil
}

// AnalyticsDays reads the tenant's daily rows from day from to day to
// (inclusive, YYYY-MM-DD), oldest first; days never computed are absent.
func (t *Tx) AnalyticsDays(ctx context.Context, from, to string) ([]DailyStats, error) {
	rows, err := t.query(ctx, `SELECT day, conversations, messages_in, messages_out, resolved_by_bot, handoffs, first_responses,
first_response_p50_ms, first_response_p95_ms, first_response_hist, knowledge_hits, knowledge_misses, computed_at
FROM analytics_daily WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day`, t.tenant(), from, to)
	if err != nil {
		return nil, fmt.Errorf("analytics days: %w", err)
	}
	defer rows.Close()
	out := []DailyStats{}
	for rows.Next() {
		var s DailyStats
		var p50, p95, computed int64
		var hist string
		if err := rows.Scan(&s.Day, &s.Conversations, &s.MessagesIn, &s.MessagesOut, &s.ResolvedByBot, &s.Handoffs, &s.FirstResponses,
			&p50, &p95, &hist, &s.KnowledgeHits, &s.KnowledgeMisses, &computed); err != nil {
			return nil, err
		}
		s.FirstResponseP50, s.FirstResponseP95 = time.Duration(p50)*time.Millisecond, time.Duration(p95)*time.Millisecond
		s.FirstResponseHist, s.ComputedAt = parseHist(hist), fromMicros(computed)
		out = append(out, s)
	}
	return out, rows.Err()
}

// TopCitedDocuments returns the documents replies cited most from day
// from to day to (inclusive), most cited first.
func (t *Tx) TopCitedDocuments(ctx context.Context, from, to string, limit int) ([]CitedDocument, error) {
	rows, err := t.query(ctx, `SELECT a.document_id, MAX(a.title), MAX(d.title), CAST(SUM(a.citations) AS bigint) AS n
FROM analytics_daily_documents a LEFT JOIN documents d ON d.tenant_id = a.tenant_id AND d.id = a.document_id
WHERE a.tenant_id = $1 AND a.day >= $2 AND a.day <= $3
GROUP BY a.document_id ORDER BY n DESC, a.document_id LIMIT $4`, t.tenant(), from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("top cited documents: %w", err)
	}
	defer rows.Close()
	out := []CitedDocument{}
	for rows.Next() {
		var d CitedDocument
		var cur *string
		if err := rows.Scan(&d.DocumentID, &d.Title, &cur, &d.Citations); err != nil {
			return nil, err
		}
		if cur != nil {
			d.Exists, d.Title = true, *cur
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// TopUnanswered returns the questions asked most often without an answer
// from day from to day to (inclusive).
func (t *Tx) TopUnanswered(ctx context.Context, from, to string, limit int) ([]UnansweredQuestion, error) {
	rows, err := t.query(ctx, `SELECT MAX(question), CAST(SUM(asked) AS bigint) AS n FROM analytics_daily_unanswered
WHERE tenant_id = $1 AND day >= $2 AND day <= $3
GROUP BY question_hash ORDER BY n DESC, question_hash LIMIT $4`, t.tenant(), from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("top unanswered: %w", err)
	}
	defer rows.Close()
	out := []UnansweredQuestion{}
	for rows.Next() {
		var q UnansweredQuestion
		if err := rows.Scan(&q.Question, &q.Count); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// HasConversations reports whether the tenant has had any conversation.
func (t *Tx) HasConversations(ctx context.Context) (bool, error) {
	var n int
	err := t.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM conversations WHERE tenant_id = $1 LIMIT 1) x`, t.tenant()).Scan(&n)
	return n > 0, err
}

// FirstResponsePercentile estimates the p-th percentile of first-response
// times from a histogram (FirstResponseBuckets), interpolating linearly in
// the bucket holding it.
func FirstResponsePercentile(hist []int64, p float64) time.Duration {
	var total int64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(p / 100 * float64(total)))
	rank = max(1, rank)
	var seen int64
	for i, n := range hist {
		if n == 0 || seen+n < rank {
			seen += n
			continue
		}
		var lo time.Duration
		if i > 0 {
			lo = FirstResponseBuckets[i-1]
		}
		if i >= len(FirstResponseBuckets) {
			return lo
		}
		hi := FirstResponseBuckets[i]
		frac := float64(rank-seen) / float64(n)
		return lo + time.Duration(frac*float64(hi-lo))
	}
	return FirstResponseBuckets[len(FirstResponseBuckets)-1]
}

func bucketOf(d time.Duration) int {
	for i, b := range FirstResponseBuckets {
		if d <= b {
			return i
		}
	}
	return len(FirstResponseBuckets)
}

// nearestRank is the p-th percentile of sorted samples (0 for none).
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func formatHist(h []int64) string {
	parts := make([]string, len(h))
	for i, n := range h {
		parts[i] = strconv.FormatInt(n, 10)
	}
	return strings.Join(parts, ",")
}

func parseHist(s string) []int64 {
	out := make([]int64, len(FirstResponseBuckets)+1)
	if s == "" {
		return out
	}
	for i, part := range strings.Split(s, ",") {
		if i >= len(out) {
			break
		}
		out[i], _ = strconv.ParseInt(part, 10, 64)
	}
	return out
}

// normaliseQuestion collapses white space and bounds the length, so the
// same question asked twice counts once.
func normaliseQuestion(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(q[cut]) {
			cut--
		}
		q = q[:cut] + "…"
	}
	return q
}
