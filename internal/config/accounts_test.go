package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metachat/metachat/internal/config"
)

type accountSettings struct {
	SMTPHost, SMTPUsername, SMTPPassword, SMTPFrom string
	SMTPPort                                       int
	Signup                                         bool
}

func accountsOf(c *config.Config) accountSettings {
	return accountSettings{c.SMTPHost, c.SMTPUsername, c.SMTPPassword, c.SMTPFrom, c.SMTPPort, c.Signup}
}

func TestLoadAccountSettings(t *testing.T) {
	t.Parallel()
	pwFile := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(pwFile, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want accountSettings
	}{
		{"defaults: no mail server, sign-up off", nil, accountSettings{SMTPPort: 587}},
		{"sign-up on", map[string]string{"METACHAT_SIGNUP": "on"}, accountSettings{SMTPPort: 587, Signup: true}},
		{"sign-up ON (case)", map[string]string{"METACHAT_SIGNUP": " ON "}, accountSettings{SMTPPort: 587, Signup: true}},
		{"host and sender", map[string]string{"METACHAT_SMTP_HOST": "smtp.example.com", "METACHAT_SMTP_FROM": "Metachat <bot@example.com>"},
			accountSettings{SMTPHost: "smtp.example.com", SMTPFrom: "Metachat <bot@example.com>", SMTPPort: 587}},
		{"everything", map[string]string{"METACHAT_SMTP_HOST": "mail.example.com", "METACHAT_SMTP_PORT": "465", "METACHAT_SMTP_USERNAME": "bot",
			"METACHAT_SMTP_PASSWORD": "s3cret", "METACHAT_SMTP_FROM": "bot@example.com", "METACHAT_SIGNUP": "off"},
			accountSettings{"mail.example.com", "bot", "s3cret", "bot@example.com", 465, false}},
		{"password from a file", map[string]string{"METACHAT_SMTP_HOST": "mail.example.com", "METACHAT_SMTP_USERNAME": "bot",
			"METACHAT_SMTP_PASSWORD_FILE": pwFile, "METACHAT_SMTP_FROM": "bot@example.com"},
			accountSettings{"mail.example.com", "bot", "from a file", "bot@example.com", 587, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, accountsOf(mustLoad(t, tc.env))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadRejectsBadAccountSettings(t *testing.T) {
	t.Parallel()
	host := map[string]string{"METACHAT_SMTP_HOST": "smtp.example.com", "METACHAT_SMTP_FROM": "bot@example.com"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range host {
			m[k] = v
		}
		for k, v := range extra {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	for _, tc := range []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"METACHAT_SIGNUP": "yes"}, "METACHAT_SIGNUP"},
		{map[string]string{"METACHAT_SMTP_FROM": "bot@example.com"}, "METACHAT_SMTP_FROM"},
		{map[string]string{"METACHAT_SMTP_USERNAME": "bot"}, "METACHAT_SMTP_USERNAME"},
		{map[string]string{"METACHAT_SMTP_PORT": "25"}, "METACHAT_SMTP_PORT"},
		{with(map[string]string{"METACHAT_SMTP_FROM": ""}), "METACHAT_SMTP_FROM"},
		{with(map[string]string{"METACHAT_SMTP_FROM": "not an address"}), "METACHAT_SMTP_FROM"},
		{with(map[string]string{"METACHAT_SMTP_HOST": "smtp.example.com:587"}), "METACHAT_SMTP_HOST"},
		{with(map[string]string{"METACHAT_SMTP_HOST": "smtp://smtp.example.com"}), "METACHAT_SMTP_HOST"},
		{with(map[string]string{"METACHAT_SMTP_PORT": "0"}), "METACHAT_SMTP_PORT"},
		{with(map[string]string{"METACHAT_SMTP_PORT": "70000"}), "METACHAT_SMTP_PORT"},
		{with(map[string]string{"METACHAT_SMTP_PORT": "smtp"}), "METACHAT_SMTP_PORT"},
		{with(map[string]string{"METACHAT_SMTP_USERNAME": "bot"}), "METACHAT_SMTP_USERNAME"},
		{with(map[string]string{"METACHAT_SMTP_PASSWORD": "pw"}), "METACHAT_SMTP_USERNAME"},
		{with(map[string]string{"METACHAT_SMTP_PASSWORD": "pw", "METACHAT_SMTP_PASSWORD_FILE": "/nonexistent"}), "METACHAT_SMTP_PASSWORD"},
	} {
		_, err := config.Load(mapEnv(tc.env))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Var != tc.wantVar || strings.Contains(err.Error(), "\n") {
			t.Errorf("Load(%v) = %v, want one line naming %s", tc.env, err, tc.wantVar)
		}
	}
}
