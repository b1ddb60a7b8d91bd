// Package browsertest starts the headless Chromium the real-browser tests
// drive with chromedp (the widget's and the dashboard's).
//
// Chromium is found on PATH (chromium, chromium-browser, google-chrome);
// without it the test is skipped, or fails when METACHAT_TEST_BROWSER=require
// (CI).
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// New starts one headless Chromium for the whole test and returns a
// context whose children open tabs in it.
func New(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	required := os.Getenv("METACHAT_TEST_BROWSER") == "require"
	if path == "" {
		if required {
			t.Fatalf("a browser is required (METACHAT_TEST_BROWSER=require) but none of chromium, chromium-browser, google-chrome is on PATH")
		}
		t.Skip("no chromium, chromium-browser or google-chrome on PATH; install one (or set METACHAT_TEST_BROWSER=require to make this a failure)")
	}
	var output lockedBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.CombinedOutput(&output),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// The first Do starts the browser; it must not carry a timeout, which
	// would end the browser with it.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			if required {
				t.Fatalf("start %s: %v\n%s", path, err, output.String())
			}
			t.Skipf("cannot start %s: %v", path, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start within 30s\n%s", path, output.String())
	}
	t.Logf("browser: %s", path)
	return ctx
}

// lockedBuffer collects the browser's output from its process's pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
