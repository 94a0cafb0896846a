package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chrome is one headless Chromium (Debian's 'chromium') driven with
// chromedp for a browser test, closed when the test ends.
type chrome struct {
	t     *testing.T
	ctx   context.Context
	shots string // where shot writes its screenshots (artifactsDir)
}

// newBrowser starts Chromium, bounded to 90 s, or fails the test saying
// how to install it.
func newBrowser(t *testing.T) *chrome {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): install the Debian package 'chromium' ('make deps' runs .ci/deps.sh)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.DisableGPU, chromedp.WindowSize(1280, 1000))
	if os.Geteuid() == 0 {
		// Chromium refuses to start as root with its sandbox on (it needs
		// an unprivileged user for its namespaces); CI containers run the
		// tests as root, so only then is the sandbox turned off.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	return &chrome{t: t, ctx: ctx, shots: artifactsDir(t)}
}

// shot saves a full-page screenshot as name.png.
func (b *chrome) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// do runs steps, failing the test with the page's address and text when
// one fails.
func (b *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string]("location.href + ': ' + document.body.innerText"))
		b.t.Fatalf("%s: %v; the page: %.600s", what, err, page)
	}
}
