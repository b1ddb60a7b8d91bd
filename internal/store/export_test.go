package store

import "context"

// CountRows counts rows of table visible in the transaction, with no
// tenant filter of our own: what remains is what row security allows.
func (t *Tx) CountRows(ctx context.Context, table string) (int, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}

// InsertForeignKeyRow tries to write an API key row into another tenant
// from inside this transaction.
func (t *Tx) InsertForeignKeyRow(ctx context.Context, tenantID string) error {
	_, err := t.exec(ctx, `INSERT INTO api_keys (tenant_id, id, name, prefix, key_hash, scopes, created_at) VALUES ($1, $2, 'x', 'x', $3, 'read', 0)`, tenantID, NewID(), NewID())
	return err
}

// BeginsInOneQuery reports whether a transaction in scope begins with the
// combined BEGIN and set_config query, and that query.
func BeginsInOneQuery(scope Scope, readOnly bool) (string, bool) { return beginScoped(scope, readOnly) }
