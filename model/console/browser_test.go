package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's Chromium headless (installed by
// deploy/local/chromium.sh, which `make test` runs) over the console against
// the fixture lake. They are integration tests: skipped under -short, a
// failure when Chromium is missing. Each page's screenshot is kept in the
// artifacts folder (artifactDir) for people to look at.

// chromium returns the browser to drive: $LAKESTREAM_CHROMIUM, or chromium
// on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped under -short")
	}
	if p := os.Getenv("LAKESTREAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run deploy/local/chromium.sh (make test does), or set LAKESTREAM_CHROMIUM to a Chromium or Chrome binary")
	return ""
}

// artifactDir is where screenshots are kept: $LAKESTREAM_TEST_ARTIFACTS/console,
// or lakestream-test-artifacts/console in the temporary folder.
func artifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("LAKESTREAM_TEST_ARTIFACTS")
	if root == "" {
		root = filepath.Join(os.TempDir(), "lakestream-test-artifacts")
	}
	dir := filepath.Join(root, "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browse starts a headless browser and returns its context.
func browse(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("hide-scrollbars", true),
		// Containers often have a 64 MiB /dev/shm, too small for Chromium.
		chromedp.Flag("disable-dev-shm-usage", true),
		// CI runs as root, where Chromium's sandbox cannot start.
		chromedp.NoSandbox,
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium(t), err)
	}
	return ctx
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(artifactDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserModels signs in with the token, then checks the models list,
// a model's page and a version's plots as a browser renders them.
func TestBrowserModels(t *testing.T) {
	ctx := browse(t)
	const token = "browser-token"
	ts := newWritableServer(t, fixtureLake(t), token)

	// Sign in through the form the console shows without a session.
	var title string
	err := chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/models/ctr"),
		chromedp.WaitVisible(`input[name=token]`),
		chromedp.SendKeys(`input[name=token]`, token),
		chromedp.Submit(`input[name=token]`),
		chromedp.WaitVisible(`table.versions`),
		chromedp.Title(&title),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if !strings.HasPrefix(title, "ctr ") {
		t.Errorf("after signing in the page is %q, want ctr's", title)
	}

	// The models list: both models, ctr's champion and its AUC.
	var champion, auc string
	var cards int
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(`a.card.model`),
		chromedp.Evaluate(`document.querySelectorAll("a.card.model").length`, &cards),
		chromedp.AttributeValue(`[data-model="ctr"] [data-champion-version]`, "data-champion-version", &champion, nil),
		chromedp.Text(`[data-model="ctr"] [data-champion-auc]`, &auc),
	)
	if err != nil {
		t.Fatal(err)
	}
	if cards != 2 || champion != "4" || auc != "0.7410" {
		t.Errorf("models list: %d cards, ctr champion %q with AUC %q; want 2, 4, 0.7410", cards, champion, auc)
	}
	screenshot(t, ctx, "models")

	// A model: the chart, the corrupt versions marked, the rest listed.
	var corrupt, rows, marked int
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/models/ctr"),
		chromedp.WaitVisible(`svg.chart`),
		chromedp.Evaluate(`document.querySelectorAll("tr[data-status=corrupt]").length`, &corrupt),
		chromedp.Evaluate(`document.querySelectorAll("table.versions tbody tr").length`, &rows),
		chromedp.Evaluate(`document.querySelectorAll("svg.chart circle.marked").length`, &marked),
	)
	if err != nil {
		t.Fatal(err)
	}
	if corrupt != 2 || rows != 5 || marked != 3 {
		t.Errorf("model page: %d corrupt of %d rows, %d champion points; want 2 of 5, 3", corrupt, rows, marked)
	}
	screenshot(t, ctx, "model")

	// A version: every plot image loaded and has pixels.
	var loaded []string
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/models/ctr/versions/4"),
		chromedp.WaitVisible(`img.plot`),
		chromedp.Poll(`Array.from(document.querySelectorAll("img.plot")).every(i => i.complete)`, nil, chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Evaluate(`Array.from(document.querySelectorAll("img.plot")).filter(i => i.naturalWidth > 0).map(i => i.dataset.plot)`, &loaded),
	)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(loaded, ",") != "roc,pr,calibration" {
		t.Errorf("plots that loaded: %v, want roc, pr, calibration", loaded)
	}
	screenshot(t, ctx, "version")

	// A stream job: the prequential AUC over time, one point per window.
	var points int
	var recent string
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/jobs/streams/ctr-stream"),
		chromedp.WaitVisible(`svg.chart`),
		chromedp.Evaluate(`document.querySelectorAll("svg.chart circle").length`, &points),
		chromedp.Text(`[data-recent-auc]`, &recent),
	)
	if err != nil {
		t.Fatal(err)
	}
	if points != 24 || recent != "0.7440" {
		t.Errorf("stream page: %d points, recent AUC %q; want 24, 0.7440", points, recent)
	}
	screenshot(t, ctx, "stream")

	// The runs grid: ctr-daily's cells in interval order carry its runs'
	// states, and are coloured (a computed background, not the default).
	var states []string
	var coloured bool
	err = chromedp.Run(ctx,
		chromedp.Navigate(ts.URL+"/jobs"),
		chromedp.WaitVisible(`table.runs`),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('tr[data-job="ctr-daily"] .cell')).map(c => c.dataset.state)`, &states),
		chromedp.Evaluate(`(() => { const bg = s => getComputedStyle(document.querySelector('tr[data-job="ctr-daily"] .cell.s-' + s)).backgroundColor;
			return bg("succeeded") !== bg("failed") && bg("failed") !== bg("gate-refused") && bg("succeeded") !== "rgba(0, 0, 0, 0)"; })()`, &coloured),
	)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, st := range fixtureStates {
		want = append(want, string(st))
	}
	if strings.Join(states, ",") != strings.Join(want, ",") || !coloured {
		t.Errorf("grid row ctr-daily: states %v (coloured %v), want %v", states, coloured, want)
	}
	screenshot(t, ctx, "jobs")
}
