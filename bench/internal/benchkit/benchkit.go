// Package benchkit holds what the benchmarks under bench/ share: ordered
// clean-up, progress lines, CPU accounting from /proc, number formatting.
package benchkit

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cleanup runs registered functions once, last registered first: on a
// normal end, on a signal and when the time limit strikes.
type Cleanup struct {
	mu   sync.Mutex
	fns  []func()
	done bool
}

// Add registers f.
func (c *Cleanup) Add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
}

// Run runs what is registered, once.
func (c *Cleanup) Run() {
	c.mu.Lock()
	if c.done {
		c.mu.Unlock()
		return
	}
	c.done = true
	fns := c.fns
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// Progress prints a step of the run on standard error.
func Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "· "+format+"\n", args...)
}

// StatCPU reads a process's user+system CPU time from /proc.
func StatCPU(pid string) time.Duration {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:]) // f[0] is field 3 (state); utime is field 14, stime 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// ProcsCPU sums the CPU time of the processes named comm (the local
// PostgreSQL server): each one's own time, plus, for the one whose parent
// has another name (the postmaster), the time of its children that have
// ended, so that backends ending between two readings are counted.
func ProcsCPU(comm string) time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	name := func(pid string) string {
		b, _ := os.ReadFile("/proc/" + pid + "/comm")
		return strings.TrimSpace(string(b))
	}
	var total time.Duration
	for _, e := range ents {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' || name(pid) != comm {
			continue
		}
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			continue
		}
		st := string(b)
		i := strings.LastIndexByte(st, ')')
		if i < 0 || i+2 > len(st) {
			continue
		}
		f := strings.Fields(st[i+2:]) // f[1] ppid; f[11..14] utime stime cutime cstime
		if len(f) < 15 {
			continue
		}
		ticks := func(k int) time.Duration {
			n, _ := strconv.ParseInt(f[k], 10, 64)
			return time.Duration(n) * time.Second / 100
		}
		total += ticks(11) + ticks(12)
		if name(f[1]) != comm {
			total += ticks(13) + ticks(14)
		}
	}
	return total
}

// SelfCPU is this process's CPU time.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MachineBusy is the CPU time all processes on the machine used (from
// /proc/stat: everything but idle and iowait), so that load from outside
// the benchmark shows.
func MachineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy int64
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / 100
}

// Commas writes n with thousands separators.
func Commas(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
