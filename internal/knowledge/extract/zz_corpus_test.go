package extract

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZCorpus(t *testing.T) {
	dir := os.Getenv("CORPUS")
	if dir == "" {
		t.Skip()
	}
	kind := Kind(os.Getenv("KIND"))
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		lines := strings.SplitN(string(raw), "\n", 3)
		v := lines[1]
		var data []byte
		if strings.HasPrefix(v, "[]byte(") {
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(v, "[]byte("), ")"))
			if err != nil {
				t.Fatal(err)
			}
			data = []byte(s)
		} else if strings.HasPrefix(v, "string(") {
			s, _ := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(v, "string("), ")"))
			data = []byte(s)
		}
		start := time.Now()
		Extract(kind, data)
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Logf("%s: %d bytes, %v", filepath.Base(f), len(data), d)
		}
	}
}
