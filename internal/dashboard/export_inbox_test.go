package dashboard

import "time"

// The inbox's live streams beat fast in tests, so that one can see a
// stream end soon after its session does. Set before any test runs.
func init() { streamHeartbeat = 300 * time.Millisecond }
