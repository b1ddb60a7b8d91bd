package telegram

import (
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/meta"
)

func TestAPIErrorActionFollowsTheStatusCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code        int
		description string
		want        meta.Action
	}{
		{429, "Too Many Requests: retry after 5", meta.ActionSlowDown},
		{500, "Internal Server Error", meta.ActionRetry},
		{502, "Bad Gateway", meta.ActionRetry},
		{401, "Unauthorized", meta.ActionBadToken},
		{404, "Not Found", meta.ActionBadToken},
		{403, "Forbidden: bot was blocked by the user", meta.ActionPermanent},
		{403, "Forbidden: user is deactivated", meta.ActionPermanent},
		{400, "Bad Request: chat not found", meta.ActionPermanent},
		{400, "Bad Request: message is too long", meta.ActionPermanent},
		{409, "Conflict: can't use getUpdates method while webhook is active", meta.ActionPermanent},
	}
	for _, tt := range tests {
		e := &APIError{Method: "sendMessage", Code: tt.code, Description: tt.description}
		if got := e.Action(); got != tt.want {
			t.Errorf("%d %s: Action = %v, want %v", tt.code, tt.description, got, tt.want)
		}
	}
}

func TestBlockedErrorExplainsItself(t *testing.T) {
	t.Parallel()
	e := &APIError{Method: "sendMessage", Code: 403, Description: "Forbidden: bot was blocked by the user"}
	if !e.Blocked() || !strings.Contains(e.Error(), "blocked by the user") || !strings.Contains(e.Error(), "do not retry") {
		t.Errorf("Error() = %q, Blocked = %v", e.Error(), e.Blocked())
	}
}
