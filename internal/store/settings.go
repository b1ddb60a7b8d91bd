package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Setting reads a server-wide setting (system scope); ok is false if unset.
func (t *Tx) Setting(ctx context.Context, key string) (value string, ok bool, err error) {
	err = t.queryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&value)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return value, true, nil
}

// SetSetting writes a server-wide setting (system scope).
func (t *Tx) SetSetting(ctx context.Context, key, value string) error {
	_, err := t.exec(ctx, `INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write setting %s: %w", key, err)
	}
	return nil
}

// DeleteSetting removes a server-wide setting (system scope).
func (t *Tx) DeleteSetting(ctx context.Context, key string) error {
	_, err := t.exec(ctx, `DELETE FROM settings WHERE key = $1`, key)
	return err
}
