package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/metachat/metachat/internal/accounts"
	"github.com/metachat/metachat/internal/apperr"
)

var resetLinkRE = regexp.MustCompile(`(?m)^http://127\.0\.0\.1:0/login/reset/([A-Za-z0-9_-]{43})$`)

// TestAdminResetLinkPrintsAWorkingOneTimeLink: the printed link resets the
// password once; a newer link replaces it; unknown emails and a missing
// --email are refused.
func TestAdminResetLinkPrintsAWorkingOneTimeLink(t *testing.T) {
	forEachDialect(t, func(t *testing.T, in *instance) {
		in.mustRun(t, "an admin password\n", "admin", "create", "--email", "ops@example.com")
		first := resetLinkRE.FindStringSubmatch(in.mustRun(t, "", "admin", "reset-link", "--email", "OPS@example.com").stdout)
		r := in.mustRun(t, "", "admin", "reset-link", "--email", "ops@example.com")
		second := resetLinkRE.FindStringSubmatch(r.stdout)
		if first == nil || second == nil || first[1] == second[1] {
			t.Fatalf("admin reset-link printed %q, want a fresh link under the base URL each time", r.stdout)
		}

		ctx := context.Background()
		cfg, err := loadConfig(lookup(in.env), nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := openStore(ctx, cfg, false)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		acc := accounts.New(st, accounts.Options{})
		if err := acc.CheckReset(ctx, first[1]); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("the first link after a second was made: %v, want it replaced (not found)", err)
		}
		email, err := acc.ResetPassword(ctx, second[1], "a brand new password", "", "")
		if err != nil || email != "ops@example.com" {
			t.Fatalf("reset with the printed link: %q, %v", email, err)
		}
		if _, err := acc.ResetPassword(ctx, second[1], "yet another password", "", ""); !apperr.Is(err, apperr.NotFound) {
			t.Errorf("second use of the link: %v, want not found", err)
		}

		if r := in.run(t, "", "admin", "reset-link", "--email", "nobody@example.com"); r.code != 1 || !strings.Contains(r.stderr, "no user has the email nobody@example.com") {
			t.Errorf("unknown email: exit %d, stderr %q", r.code, r.stderr)
		}
		if r := in.run(t, "", "admin", "reset-link"); r.code != 2 || !strings.Contains(r.stderr, "--email is required") {
			t.Errorf("no --email: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
