package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/console"
)

func newServer(t testing.TB, store lake.Store, token string) *httptest.Server {
	t.Helper()
	srv, err := console.New(console.Config{Store: store, Lake: "memory://fixture", Token: token, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// get fetches path with the token (when not empty) and returns the status,
// content type and body.
func get(t testing.TB, ts *httptest.Server, path, token string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// apiCase is one request of the REST table, reused by the OpenAPI
// conformance test.
type apiCase struct {
	name   string
	path   string
	status int
	// check inspects the decoded JSON body (nil: status and schema only).
	check func(t *testing.T, body map[string]any)
	// contains is a substring the raw body must hold.
	contains string
}

func num(v any) float64 { f, _ := v.(float64); return f }

func versionRow(t *testing.T, body map[string]any, version int) map[string]any {
	t.Helper()
	for _, v := range body["versions"].([]any) {
		row := v.(map[string]any)
		if int(num(row["version"])) == version {
			return row
		}
	}
	t.Fatalf("no version %d in %v", version, body["versions"])
	return nil
}

var apiCases = []apiCase{
	{name: "models", path: "/api/v1/models", status: 200, check: func(t *testing.T, b map[string]any) {
		ms := b["models"].([]any)
		if len(ms) != 2 {
			t.Fatalf("%d models, want 2 (churn, ctr)", len(ms))
		}
		ctr := ms[1].(map[string]any)
		if ctr["name"] != "ctr" || num(ctr["versions"]) != 5 || num(ctr["corrupt"]) != 2 || num(ctr["latest"]) != 5 {
			t.Errorf("ctr summary %v: want 5 versions, 2 corrupt, latest 5", ctr)
		}
		champ := ctr["champion"].(map[string]any)
		if num(champ["version"]) != 4 || num(champ["auc"]) != 0.741 {
			t.Errorf("ctr champion %v, want version 4 with AUC 0.741", champ)
		}
		if a := ctr["aliases"].(map[string]any); num(a["champion"]) != 4 || num(a["challenger"]) != 5 {
			t.Errorf("ctr aliases %v", a)
		}
		if h := ctr["history"].([]any); len(h) != 3 {
			t.Errorf("history %v: want the 3 healthy versions", h)
		}
		if _, ok := ms[0].(map[string]any)["champion"]; ok {
			t.Error("churn has no champion but the summary shows one")
		}
	}},
	{name: "model lists corrupt versions with the rest", path: "/api/v1/models/ctr", status: 200, check: func(t *testing.T, b map[string]any) {
		if n := len(b["versions"].([]any)); n != 5 {
			t.Fatalf("%d versions, want 5", n)
		}
		for v, want := range map[int]string{1: "ok", 2: "ok", 3: "corrupt", 4: "ok", 5: "corrupt"} {
			row := versionRow(t, b, v)
			if row["status"] != want {
				t.Errorf("version %d status %v, want %s (error %v)", v, row["status"], want, row["error"])
			}
		}
		if e, _ := versionRow(t, b, 3)["error"].(string); !strings.Contains(e, "models/ctr/3/manifest.json") {
			t.Errorf("version 3 error %q does not name the manifest", e)
		}
		if e, _ := versionRow(t, b, 5)["error"].(string); !strings.Contains(e, "models/ctr/5/w.f32") || !strings.Contains(e, "2 bytes") {
			t.Errorf("version 5 error %q does not name the truncated file", e)
		}
		if a := versionRow(t, b, 4)["aliases"].([]any); len(a) != 1 || a[0] != "champion" {
			t.Errorf("version 4 aliases %v, want [champion]", a)
		}
	}},
	{name: "aliases with history", path: "/api/v1/models/ctr/aliases", status: 200, contains: `"previous": [
      2,
      1
    ]`},
	{name: "version by number", path: "/api/v1/models/ctr/versions/4", status: 200, check: func(t *testing.T, b map[string]any) {
		if b["status"] != "ok" || num(b["auc"]) != 0.741 {
			t.Errorf("status %v auc %v", b["status"], b["auc"])
		}
		d := b["decision"].(map[string]any)
		if d["promoted"] != true || num(d["champion_version"]) != 2 || num(d["candidate_value"]) != 0.741 {
			t.Errorf("decision %v", d)
		}
		rep := b["report"].(map[string]any)
		if p := rep["plots"].([]any); len(p) != 3 || p[0] != "roc" || p[1] != "pr" || p[2] != "calibration" {
			t.Errorf("report plots %v, want roc, pr, calibration", p)
		}
		lin := b["lineage"].(map[string]any)
		if lin["location"] != "models/ctr/4/" || lin["data"].(map[string]any)["from"] != "2026-11-01" {
			t.Errorf("lineage %v", lin)
		}
	}},
	{name: "version by alias", path: "/api/v1/models/ctr/versions/champion", status: 200, check: func(t *testing.T, b map[string]any) {
		if num(b["version"]) != 4 {
			t.Errorf("champion resolves to %v, want 4", b["version"])
		}
	}},
	{name: "corrupt version", path: "/api/v1/models/ctr/versions/3", status: 200, check: func(t *testing.T, b map[string]any) {
		if b["status"] != "corrupt" || b["error"] == "" {
			t.Errorf("version 3: status %v error %v", b["status"], b["error"])
		}
	}},
	{name: "report", path: "/api/v1/models/ctr/versions/2/report", status: 200, contains: `"roc"`},
	{name: "plot svg", path: "/api/v1/models/ctr/versions/4/plots/roc.svg", status: 200},
	{name: "plot png", path: "/api/v1/models/ctr/versions/champion/plots/calibration.png", status: 200},

	{name: "streams", path: "/api/v1/streams", status: 200, check: func(t *testing.T, b map[string]any) {
		ss := b["streams"].([]any)
		if len(ss) != 2 {
			t.Fatalf("%d streams, want 2 (broken, ctr-stream)", len(ss))
		}
		broken, ctr := ss[0].(map[string]any), ss[1].(map[string]any)
		if broken["state"] != "unreadable" || !strings.Contains(broken["error"].(string), "jobs/broken/status.json") {
			t.Errorf("broken job %v: want unreadable, naming its status file", broken)
		}
		if ctr["state"] != "running" || num(ctr["recent_auc"]) != 0.744 || num(ctr["latest_version"]) != 5 || ctr["model"] != "ctr" {
			t.Errorf("ctr-stream %v", ctr)
		}
	}},
	{name: "stream", path: "/api/v1/streams/ctr-stream", status: 200, check: func(t *testing.T, b map[string]any) {
		if n := len(b["windows"].([]any)); n != 24 {
			t.Errorf("%d windows, want 24", n)
		}
	}},
	{name: "unknown stream", path: "/api/v1/streams/nope", status: 404, contains: `no stream job \"nope\"`},
	{name: "unreadable stream", path: "/api/v1/streams/broken", status: 500, contains: "jobs/broken/status.json"},

	{name: "unknown model", path: "/api/v1/models/nope", status: 404, contains: `no model \"nope\"`},
	{name: "unknown model's aliases", path: "/api/v1/models/nope/aliases", status: 404},
	{name: "invalid model name", path: "/api/v1/models/..%2Fetc", status: 404},
	{name: "unknown version", path: "/api/v1/models/ctr/versions/9", status: 404, contains: "no version 9"},
	{name: "version zero", path: "/api/v1/models/ctr/versions/0", status: 404},
	{name: "negative version", path: "/api/v1/models/ctr/versions/-3", status: 404},
	{name: "unknown alias", path: "/api/v1/models/ctr/versions/staging", status: 404, contains: `no alias \"staging\"`},
	{name: "malformed alias", path: "/api/v1/models/ctr/versions/NOT%20AN%20ALIAS", status: 404},
	{name: "version of unknown model", path: "/api/v1/models/nope/versions/1", status: 404},
	{name: "no report", path: "/api/v1/models/ctr/versions/1/report", status: 404, contains: "no evaluation report"},
	{name: "unknown plot", path: "/api/v1/models/ctr/versions/4/plots/loss.svg", status: 404, contains: "has no plot loss"},
	{name: "bad plot format", path: "/api/v1/models/ctr/versions/4/plots/roc.gif", status: 404},
	{name: "unknown route", path: "/api/v1/nothing", status: 404},
}

func TestAPI(t *testing.T) {
	ts := newServer(t, fixtureLake(t), "")
	for _, c := range apiCases {
		t.Run(c.name, func(t *testing.T) {
			status, ctype, body := get(t, ts, c.path, "")
			if status != c.status {
				t.Fatalf("GET %s: %d, want %d: %s", c.path, status, c.status, body)
			}
			if !strings.HasPrefix(ctype, "application/json") && !strings.HasPrefix(ctype, "image/") {
				t.Fatalf("GET %s: content type %q", c.path, ctype)
			}
			if status != 200 {
				var e struct{ Error string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Fatalf("GET %s: %d without a JSON error: %s", c.path, status, body)
				}
			}
			if c.contains != "" && !strings.Contains(string(body), c.contains) {
				t.Errorf("GET %s: body lacks %q:\n%s", c.path, c.contains, body)
			}
			if c.check != nil {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				c.check(t, m)
			}
		})
	}
}

// TestNewChampionWithoutRestart moves the champion behind the server's
// back: the next request shows it.
func TestNewChampionWithoutRestart(t *testing.T) {
	store := fixtureLake(t)
	ts := newServer(t, store, "")
	champion := func() float64 {
		_, _, body := get(t, ts, "/api/v1/models/ctr/versions/champion", "")
		var v struct{ Version float64 }
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	if v := champion(); v != 4 {
		t.Fatalf("champion %v, want 4", v)
	}
	if _, err := model.Rollback(context.Background(), store, "ctr", model.Champion, 0); err != nil {
		t.Fatal(err)
	}
	if v := champion(); v != 2 {
		t.Fatalf("after the rollback the champion is %v, want 2", v)
	}
	_, _, page := get(t, ts, "/models/ctr", "")
	if !strings.Contains(string(page), `data-champion-version="2"`) {
		t.Error("the model page does not show champion v2 after the rollback")
	}
}

// TestEveryRouteNeedsTheToken: with a token set, every route (pages,
// assets, the OpenAPI file, API, unknown paths, the sign-in form with a
// wrong token) answers 401 without it, and the right token opens them.
func TestEveryRouteNeedsTheToken(t *testing.T) {
	const token = "s3cret-token"
	ts := newServer(t, fixtureLake(t), token)
	paths := []string{"/", "/jobs", "/jobs/streams/ctr-stream", "/models/ctr", "/models/ctr/versions/4", "/models/nope", "/static/console.css",
		"/static/console.js", "/api/openapi.yaml", "/api/v1/nothing", "/anything"}
	for _, c := range apiCases {
		paths = append(paths, c.path)
	}
	for _, p := range paths {
		if status, _, body := get(t, ts, p, ""); status != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d, want 401", p, status)
		} else if strings.Contains(string(body), "champion") || strings.Contains(string(body), "0.74") {
			t.Errorf("GET %s without the token leaks registry content: %s", p, body)
		}
		if status, _, _ := get(t, ts, p, "wrong"); status != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", p, status)
		}
	}
	for _, c := range apiCases {
		if status, _, _ := get(t, ts, c.path, token); status != c.status {
			t.Errorf("GET %s with the token: %d, want %d", c.path, status, c.status)
		}
	}
	// The sign-in form: a wrong token is 401, the right one sets a cookie
	// that opens the pages.
	noRedirect := *ts.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirect.PostForm(ts.URL+"/login", map[string][]string{"token": {"wrong"}, "next": {"/models/ctr"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("POST /login with a wrong token: %d, cookies %v; want 401 and none", resp.StatusCode, resp.Cookies())
	}
	resp, err = noRedirect.PostForm(ts.URL+"/login", map[string][]string{"token": {token}, "next": {"/models/ctr"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/models/ctr" || len(resp.Cookies()) != 1 {
		t.Fatalf("POST /login with the token: %d to %q, cookies %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/models/ctr", nil)
	req.AddCookie(resp.Cookies()[0])
	page, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		t.Errorf("GET /models/ctr with the session cookie: %d", page.StatusCode)
	}
}

// TestPages renders each page and its error pages.
func TestPages(t *testing.T) {
	ts := newServer(t, fixtureLake(t), "")
	for _, c := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/", 200, []string{`href="/models/ctr"`, `data-champion-version="4"`, "2 corrupt", "churn", "no champion"}},
		{"/models/ctr", 200, []string{`<svg class="chart"`, `data-status="corrupt"`, "models/ctr/3/manifest.json", `data-alias="champion" data-version="4"`, "v2, v1"}},
		{"/models/ctr/versions/4", 200, []string{`src="/api/v1/models/ctr/versions/4/plots/roc.svg"`, `data-decision="promoted"`, "2026-11-01 → 2026-11-07"}},
		{"/models/ctr/versions/3", 200, []string{`data-status="corrupt"`}},
		{"/models/ctr/versions/1", 200, []string{"No evaluation report"}},
		{"/models/nope", 404, []string{"no model"}},
		{"/models/ctr/versions/77", 404, []string{"no version 77"}},
		{"/nowhere", 404, []string{"There is no page"}},
		{"/jobs", 200, []string{`data-stream="ctr-stream" data-state="running"`, `data-state="unreadable"`, "0.7440"}},
		{"/jobs/streams/ctr-stream", 200, []string{`<svg class="chart"`, `class="band"`, "next offset 120000", `data-version="5"`, "refused"}},
		{"/jobs/streams/nope", 404, []string{"no stream job"}},
	} {
		status, ctype, body := get(t, ts, c.path, "")
		if status != c.status || !strings.HasPrefix(ctype, "text/html") {
			t.Errorf("GET %s: %d %s, want %d HTML", c.path, status, ctype, c.status)
		}
		for _, w := range c.want {
			if !strings.Contains(string(body), w) {
				t.Errorf("GET %s: page lacks %q", c.path, w)
			}
		}
	}
	// An alias in a page address redirects to the version's own page.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(ts.URL + "/models/ctr/versions/champion")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/models/ctr/versions/4" {
		t.Errorf("alias page: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
