package store

import (
	"encoding/base64"

	"github.com/metachat/metachat/internal/apperr"
)

// MaxPageSize bounds every list.
const MaxPageSize = 200

// Page asks for the items after a cursor. Ids are time-ordered UUIDs, so
// keyset pagination on the id is stable under concurrent inserts.
type Page struct {
	After string // id of the last item already seen; "" for the first page
	Limit int
}

// ParsePage validates an opaque cursor and a limit from a request.
func ParsePage(cursor string, limit int) (Page, error) {
	p := Page{Limit: limit}
	if p.Limit == 0 {
		p.Limit = 50
	}
	if p.Limit < 1 || p.Limit > MaxPageSize {
		return Page{}, apperr.Field("limit", "must be between 1 and 200")
	}
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || !ValidID(string(b)) {
			return Page{}, apperr.Field("cursor", "is not a cursor this API issued")
		}
		p.After = string(b)
	}
	return p, nil
}

// NextCursor returns the cursor for the page after items, or "" when the
// page was not full (there is nothing more).
func NextCursor(p Page, n int, lastID string) string {
	if n < p.Limit || lastID == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

// bound is the keyset bound for a page: the nil UUID sorts before every id
// and, unlike "", is a valid PostgreSQL uuid.
func (p Page) bound() string {
	if p.After == "" {
		return "00000000-0000-0000-0000-000000000000"
	}
	return p.After
}
