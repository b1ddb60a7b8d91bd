package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/store"
)

// dailyView is one day of the tenant's figures, as the periodic analytics
// job computed them (the dashboard's overview reads the same rows).
type dailyView struct {
	Day                string `json:"day"`
	Conversations      int64  `json:"conversations"`
	MessagesIn         int64  `json:"messages_in"`
	MessagesOut        int64  `json:"messages_out"`
	ResolvedByBot      int64  `json:"resolved_by_bot"`
	Handoffs           int64  `json:"handoffs"`
	FirstResponses     int64  `json:"first_responses"`
	FirstResponseP50MS int64  `json:"first_response_p50_ms"`
	FirstResponseP95MS int64  `json:"first_response_p95_ms"`
	KnowledgeHits      int64  `json:"knowledge_hits"`
	KnowledgeMisses    int64  `json:"knowledge_misses"`
	ComputedAt         string `json:"computed_at"`
}

// analyticsDaily serves GET /api/v1/analytics/daily?days=N (1–366, default
// 30): the last N UTC days that have figures, oldest first.
func (s *Server) analyticsDaily(w http.ResponseWriter, r *http.Request) error {
	days := 30
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 366 {
			return apperr.Field("days", "must be a whole number from 1 to 366")
		}
		days = n
	}
	scope, err := auth.FromContext(r.Context()).Scope()
	if err != nil {
		return err
	}
	to := time.Now().UTC()
	from := to.AddDate(0, 0, -(days - 1))
	var rows []store.DailyStats
	err = s.store.Read(r.Context(), scope, func(tx *store.Tx) error {
		rows, err = tx.AnalyticsDays(r.Context(), from.Format(time.DateOnly), to.Format(time.DateOnly))
		return err
	})
	if err != nil {
		return err
	}
	out := make([]dailyView, len(rows))
	for i, d := range rows {
		out[i] = dailyView{Day: d.Day, Conversations: d.Conversations, MessagesIn: d.MessagesIn, MessagesOut: d.MessagesOut,
			ResolvedByBot: d.ResolvedByBot, Handoffs: d.Handoffs, FirstResponses: d.FirstResponses,
			FirstResponseP50MS: d.FirstResponseP50.Milliseconds(), FirstResponseP95MS: d.FirstResponseP95.Milliseconds(),
			KnowledgeHits: d.KnowledgeHits, KnowledgeMisses: d.KnowledgeMisses, ComputedAt: d.ComputedAt.Format(time.RFC3339)}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": out})
}
