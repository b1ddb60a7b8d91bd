package dashboard

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

func TestOverviewHelpers(t *testing.T) {
	for in, want := range map[string]string{
		"=1+2": "'=1+2", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
		"plain": "plain", "": "", "a=b": "a=b",
	} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]int64{0: 2, 1: 2, 2: 2, 3: 10, 7: 10, 11: 20, 20: 20, 21: 50, 99: 100, 101: 200, 4000: 5000, 6000: 10000} {
		if got := niceMax(in); got != want {
			t.Errorf("niceMax(%d) = %d, want %d", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{
		0: "0.0 s", 2500 * time.Millisecond: "2.5 s", 30 * time.Second: "30 s",
		125 * time.Second: "2 min 5 s", 3*time.Hour + 10*time.Minute: "3 h 10 min",
	} {
		if got := formatDuration(in); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", in, got, want)
		}
	}
}

// TestChartLayout: bars stay inside the plot, stacked series add up,
// zeros draw no bar, and the SVG is well-formed.
func TestChartLayout(t *testing.T) {
	labels := []string{"d1", "d2", "d3", "d4"}
	c := newChart("c", "T", "D", labels, [][]int64{{1, 2}, {0, 0}, {5, 4}, {0, 1}}, []string{"a", "b"}, func(i int) string { return labels[i] })
	if len(c.Bars) != 5 || len(c.Grid) != 3 || len(c.XLabels) != 3 {
		t.Fatalf("bars %d grid %d labels %d", len(c.Bars), len(c.Grid), len(c.XLabels))
	}
	for _, b := range c.Bars {
		if b.X < c.PlotLeft || b.X+b.W > c.PlotRight || b.Y < 0 || b.Y+b.H > c.Baseline || b.H < 0 {
			t.Errorf("bar %+v outside the plot", b)
		}
	}
	// Day 3 (9 of a scale of 10) is the tallest: its top sits 90 % up.
	top := c.Bars[3].Y
	if want := c.Baseline - 9*(c.Baseline-c.Grid[2].Y)/10; top < want-1 || top > want+1 {
		t.Errorf("tallest stack top %d, want about %d", top, want)
	}
	z := newChart("z", "T", "D", labels[:1], [][]int64{{0}}, []string{"a"}, func(int) string { return "" })
	if len(z.Bars) != 0 || len(z.XLabels) != 1 {
		t.Errorf("zero chart %+v", z)
	}
	h, err := New(Config{}, nil, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	{
		var b strings.Builder
		if err := h.pages["en"]["overview"].ExecuteTemplate(&b, "overview-chart", c); err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal([]byte(b.String()), new(struct{})); err != nil {
			t.Errorf("chart SVG is not well-formed: %v\n%s", err, b.String())
		}
	}
}
