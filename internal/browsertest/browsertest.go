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
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
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
	var output Buffer
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

// Buffer is a bytes.Buffer that goroutines (a browser's pipes, a server's
// log) may write while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Frames runs scripts inside a tab's iframes (the widget's, on a host
// page of another origin). It tracks the main-world execution context of
// every frame from the tab's events: pass Observe to chromedp.WithListener
// (or call it from the tab's own listener, which must return fast).
type Frames struct {
	mu       sync.Mutex
	contexts map[cdp.FrameID]runtime.ExecutionContextID
	uniqueTo map[string]cdp.FrameID
}

// Observe records the execution contexts that frames create and lose.
func (f *Frames) Observe(ev any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.contexts == nil {
		f.contexts, f.uniqueTo = map[cdp.FrameID]runtime.ExecutionContextID{}, map[string]cdp.FrameID{}
	}
	switch ev := ev.(type) {
	case *runtime.EventExecutionContextCreated:
		var aux struct {
			FrameID   cdp.FrameID `json:"frameId"`
			IsDefault bool        `json:"isDefault"`
		}
		if ev.Context == nil || json.Unmarshal([]byte(ev.Context.AuxData), &aux) != nil || !aux.IsDefault || aux.FrameID == "" {
			return
		}
		f.contexts[aux.FrameID] = ev.Context.ID
		f.uniqueTo[ev.Context.UniqueID] = aux.FrameID
	case *runtime.EventExecutionContextDestroyed:
		if id, ok := f.uniqueTo[ev.ExecutionContextUniqueID]; ok {
			delete(f.contexts, id)
			delete(f.uniqueTo, ev.ExecutionContextUniqueID)
		}
	case *runtime.EventExecutionContextsCleared:
		clear(f.contexts)
		clear(f.uniqueTo)
	}
}

// Find returns the first child frame of the tab in ctx whose URL (or, when
// it failed to load, whose unreachable URL) starts with prefix.
func (f *Frames) Find(ctx context.Context, prefix string) (*cdp.Frame, error) {
	res, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		return nil, err
	}
	var walk func(ft *page.FrameTree) *cdp.Frame
	walk = func(ft *page.FrameTree) *cdp.Frame {
		if ft == nil {
			return nil
		}
		if fr := ft.Frame; fr != nil && fr.ParentID != "" && (strings.HasPrefix(fr.URL, prefix) || strings.HasPrefix(fr.UnreachableURL, prefix)) {
			return fr
		}
		for _, c := range ft.ChildFrames {
			if fr := walk(c); fr != nil {
				return fr
			}
		}
		return nil
	}
	if fr := walk(res.FrameTree); fr != nil {
		return fr, nil
	}
	return nil, fmt.Errorf("no frame at %s in the page (yet)", prefix)
}

// Eval evaluates expr in the frame Find finds for prefix and returns its
// JSON value (nil for undefined).
func (f *Frames) Eval(ctx context.Context, prefix, expr string) (json.RawMessage, error) {
	fr, err := f.Find(ctx, prefix)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	ec := f.contexts[fr.ID]
	f.mu.Unlock()
	if ec == 0 {
		return nil, fmt.Errorf("the frame %s has no script context (yet)", fr.URL)
	}
	res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{
		Expression: expr, ContextID: ec, ReturnByValue: new(true), AwaitPromise: new(true), UserGesture: new(true),
	})
	if err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		msg := res.ExceptionDetails.Text
		if e := res.ExceptionDetails.Exception; e != nil && e.Description != "" {
			msg = e.Description
		}
		return nil, fmt.Errorf("in the frame: %s", msg)
	}
	if res.Result == nil || len(res.Result.Value) == 0 {
		return nil, nil
	}
	return json.RawMessage(res.Result.Value), nil
}
