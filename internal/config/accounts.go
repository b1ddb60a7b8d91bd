package config

import (
	"net/mail"
	"strings"
)

// loadAccounts reads the account email (SMTP) and sign-up settings.
func (c *Config) loadAccounts(env Lookup, get func(string, string) string) error {
	c.SMTPHost = get("METACHAT_SMTP_HOST", "")
	c.SMTPUsername = get("METACHAT_SMTP_USERNAME", "")
	c.SMTPFrom = get("METACHAT_SMTP_FROM", "")
	var err error
	if c.SMTPPassword, err = secretValue(env, "METACHAT_SMTP_PASSWORD"); err != nil {
		return err
	}
	port, err := intVar(get, "METACHAT_SMTP_PORT", 587, 1, 65535)
	if err != nil {
		return err
	}
	c.SMTPPort = int(port)
	if c.SMTPHost == "" {
		for name, v := range map[string]string{"METACHAT_SMTP_PORT": get("METACHAT_SMTP_PORT", ""), "METACHAT_SMTP_USERNAME": c.SMTPUsername,
			"METACHAT_SMTP_PASSWORD": c.SMTPPassword, "METACHAT_SMTP_FROM": c.SMTPFrom} {
			if v != "" {
				return &Error{name, "is set but METACHAT_SMTP_HOST is not: set the host too, or unset it"}
			}
		}
	} else {
		if strings.ContainsAny(c.SMTPHost, ":/ ") {
			return &Error{"METACHAT_SMTP_HOST", "must be a host name without port or scheme, e.g. smtp.example.com (the port is METACHAT_SMTP_PORT)"}
		}
		if c.SMTPFrom == "" {
			return &Error{"METACHAT_SMTP_FROM", "is required when METACHAT_SMTP_HOST is set, e.g. metachat@example.com"}
		}
		if a, err := mail.ParseAddress(c.SMTPFrom); err != nil || strings.ContainsAny(c.SMTPFrom, "\r\n") || a.Address == "" {
			return &Error{"METACHAT_SMTP_FROM", "must be an email address such as metachat@example.com or \"Metachat <metachat@example.com>\""}
		}
		if (c.SMTPUsername == "") != (c.SMTPPassword == "") {
			return &Error{"METACHAT_SMTP_USERNAME", "and METACHAT_SMTP_PASSWORD go together: set both or neither"}
		}
	}
	switch strings.ToLower(get("METACHAT_SIGNUP", "off")) {
	case "off":
	case "on":
		c.Signup = true
	default:
		return &Error{"METACHAT_SIGNUP", "must be off or on"}
	}
	return nil
}
