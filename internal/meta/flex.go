package meta

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// flexString decodes a JSON string or number as a string. Meta documents ids
// and timestamps as strings, but Messenger sends timestamps as numbers and
// dashboard test payloads have been seen with numeric ids; accepting both
// keeps one odd field from making a whole message unreadable.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*s = flexString(n.String())
	return nil
}

// int returns the value as an integer, or 0 when it is not one.
func (s flexString) int() int64 {
	if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		return n
	}
	// Some encoders write large integers in exponent form (1.7e9).
	if f, err := strconv.ParseFloat(string(s), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<62 {
		return int64(f)
	}
	return 0
}

// unixSeconds reads a WhatsApp timestamp (Unix seconds, as a string).
func (s flexString) unixSeconds() time.Time {
	n := s.int()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// unixMillis reads a Messenger/Instagram timestamp (Unix milliseconds).
func (s flexString) unixMillis() time.Time {
	n := s.int()
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}
