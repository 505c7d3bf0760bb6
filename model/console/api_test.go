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
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/console"
)

func newServer(t testing.TB, store lake.Store, token string) *httptest.Server {
	t.Helper()
	return serve(t, console.Config{Store: store, Lake: "memory://fixture", Token: token})
}

// newWritableServer serves with the write actions enabled.
func newWritableServer(t testing.TB, store lake.Store, token string) *httptest.Server {
	t.Helper()
	return serve(t, console.Config{Store: store, Lake: "memory://fixture", Token: token, Writes: &console.Writes{}})
}

func serve(t testing.TB, cfg console.Config) *httptest.Server {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv, err := console.New(cfg)
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
	return do(t, ts, http.MethodGet, path, "", token)
}

// do sends a request with a JSON body (when not empty).
func do(t testing.TB, ts *httptest.Server, method, path, body, token string) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw
}

// apiCase is one request of the REST table, reused by the OpenAPI
// conformance test.
type apiCase struct {
	name   string
	method string // GET when empty
	path   string
	body   string
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
		if lin["location"] != "models/ctr/4/" || lin["data"].(map[string]any)["from"] != "2026-11-01" || num(lin["parent"]) != 2 ||
			lin["job"] != "ctr-stream" || num(lin["offsets"].(map[string]any)["1"]) != 79_000 || lin["watermark"] != "2026-11-08T16:00:00Z" {
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

	{name: "schedules", path: "/api/v1/schedules", status: 200, check: func(t *testing.T, b map[string]any) {
		jobs := b["jobs"].([]any)
		if len(jobs) != 2 {
			t.Fatalf("%d scheduled jobs, want 2", len(jobs))
		}
		churn, ctr := jobs[0].(map[string]any), jobs[1].(map[string]any)
		if ctr["job"] != "ctr-daily" || num(ctr["intervals"]) != 10 || len(ctr["runs"].([]any)) != 10 || ctr["model"] != "ctr" {
			t.Errorf("ctr-daily %v", ctr)
		}
		for i, r := range ctr["runs"].([]any) {
			rec := r.(map[string]any)["record"].(map[string]any)
			if rec["state"] != string(fixtureStates[i]) {
				t.Errorf("run %d state %v, want %s", i, rec["state"], fixtureStates[i])
			}
		}
		bad := churn["runs"].([]any)[1].(map[string]any)
		if bad["interval"] != "2026-11-09" || !strings.Contains(bad["error"].(string), "runs/churn-daily/2026-11-09.json") {
			t.Errorf("garbled record %v: want its interval and an error naming it", bad)
		}
	}},
	{name: "schedule with a limit", path: "/api/v1/schedules/ctr-daily?limit=3", status: 200, check: func(t *testing.T, b map[string]any) {
		runs := b["runs"].([]any)
		if len(runs) != 3 || runs[0].(map[string]any)["interval"] != "2026-11-08" || num(b["intervals"]) != 10 {
			t.Errorf("limit 3: %d runs from %v", len(runs), runs[0])
		}
	}},
	{name: "unknown schedule", path: "/api/v1/schedules/nope", status: 404, contains: `no scheduled job \"nope\"`},
	{name: "bad limit", path: "/api/v1/schedules?limit=0", status: 400, contains: "limit"},
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

	{name: "rollback", method: "POST", path: "/api/v1/models/ctr/aliases/champion/rollback", status: 200, check: func(t *testing.T, b map[string]any) {
		a := b["alias"].(map[string]any)
		if num(a["version"]) != 2 || num(a["rolled_back"].([]any)[0]) != 4 {
			t.Errorf("after the rollback: %v, want champion 2 rolled back from 4", a)
		}
	}},
	{name: "rollback to a version", method: "POST", path: "/api/v1/models/ctr/aliases/champion/rollback", body: `{"to": 1}`, status: 200, contains: `"version": 1`},
	{name: "rollback to a corrupt version", method: "POST", path: "/api/v1/models/ctr/aliases/champion/rollback", body: `{"to": 3}`, status: 400, contains: "models/ctr/3/manifest.json"},
	{name: "rollback with nothing before", method: "POST", path: "/api/v1/models/ctr/aliases/challenger/rollback", status: 409, contains: "no other version"},
	{name: "rollback of an unknown alias", method: "POST", path: "/api/v1/models/ctr/aliases/staging/rollback", status: 404},
	{name: "rollback of an unknown model", method: "POST", path: "/api/v1/models/nope/aliases/champion/rollback", status: 404},
	{name: "rollback with a bad body", method: "POST", path: "/api/v1/models/ctr/aliases/champion/rollback", body: `{"to": "two"}`, status: 400},
	{name: "rollback with an unknown field", method: "POST", path: "/api/v1/models/ctr/aliases/champion/rollback", body: `{"version": 2}`, status: 400, contains: "unknown field"},
	{name: "promote without a version", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"data": "clicks"}`, status: 400, contains: "version 0"},
	{name: "promote without data", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"version": 5}`, status: 400, contains: "held-out table"},
	{name: "promote with a bad gate", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"version": 2, "data": "clicks", "max_drop": -1}`, status: 400, contains: "epsilon"},
	{name: "promote with a bad dt", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"version": 2, "data": "clicks", "dt": "2026-13-45"}`, status: 400, contains: "dt"},
	{name: "promote an unknown version", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"version": 42, "data": "clicks"}`, status: 404},
	{name: "promote a corrupt version", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"version": 3, "data": "clicks"}`, status: 400, contains: "cannot be promoted"},
	{name: "promote the champion", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"version": 4, "data": "clicks"}`, status: 409, contains: "already the champion"},
	{name: "promote from a missing table", method: "POST", path: "/api/v1/models/ctr/promote", body: `{"version": 2, "data": "nowhere"}`, status: 400, contains: "nowhere"},
}

func (c apiCase) verb() string {
	if c.method == "" {
		return http.MethodGet
	}
	return c.method
}

func TestAPI(t *testing.T) {
	for _, c := range apiCases {
		t.Run(c.name, func(t *testing.T) {
			// A fresh lake for each case: the write cases change it.
			ts := newWritableServer(t, fixtureLake(t), "")
			status, ctype, body := do(t, ts, c.verb(), c.path, c.body, "")
			if status != c.status {
				t.Fatalf("%s %s: %d, want %d: %s", c.verb(), c.path, status, c.status, body)
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
	ts := newWritableServer(t, fixtureLake(t), token)
	reqs := []apiCase{{path: "/"}, {path: "/jobs"}, {path: "/jobs/streams/ctr-stream"}, {path: "/models/ctr"},
		{path: "/models/ctr/versions/4"}, {path: "/models/nope"}, {path: "/static/console.css"}, {path: "/static/console.js"},
		{path: "/api/openapi.yaml"}, {path: "/api/v1/nothing"}, {path: "/anything"},
		{method: "POST", path: "/models/ctr/promote"}, {method: "POST", path: "/models/ctr/aliases/champion/rollback"}}
	reqs = append(reqs, apiCases...)
	for _, c := range reqs {
		if status, _, body := do(t, ts, c.verb(), c.path, c.body, ""); status != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d, want 401", c.verb(), c.path, status)
		} else if strings.Contains(string(body), "champion") || strings.Contains(string(body), "0.74") {
			t.Errorf("%s %s without the token leaks registry content: %s", c.verb(), c.path, body)
		}
		if status, _, _ := do(t, ts, c.verb(), c.path, c.body, "wrong"); status != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %d, want 401", c.verb(), c.path, status)
		}
	}
	for _, c := range apiCases {
		ts := newWritableServer(t, fixtureLake(t), token)
		if status, _, _ := do(t, ts, c.verb(), c.path, c.body, token); status != c.status {
			t.Errorf("%s %s with the token: %d, want %d", c.verb(), c.path, status, c.status)
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
		{"/models/ctr/versions/4", 200, []string{`src="/api/v1/models/ctr/versions/4/plots/roc.svg"`, `data-decision="promoted"`, "2026-11-01 → 2026-11-07",
			`href="/jobs/streams/ctr-stream"`, "up to offset 79000", `<a href="/models/ctr/versions/2">v2</a>`}},
		{"/models/ctr/versions/3", 200, []string{`data-status="corrupt"`}},
		{"/models/ctr/versions/1", 200, []string{"No evaluation report"}},
		{"/models/nope", 404, []string{"no model"}},
		{"/models/ctr/versions/77", 404, []string{"no version 77"}},
		{"/nowhere", 404, []string{"There is no page"}},
		{"/jobs", 200, []string{`data-interval="2026-11-03" data-state="gate-refused"`, `data-interval="2026-11-09" data-state="unreadable"`,
			`href="/models/ctr/versions/2" class="cell s-succeeded"`, `data-stream="ctr-stream" data-state="running"`, `data-state="unreadable"`, "0.7440"}},
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

// TestWritesGuarded: a read-only console refuses the write routes, and a
// writable one refuses a cross-origin POST (a page elsewhere using the
// browser's session), leaving the champion where it was.
func TestWritesGuarded(t *testing.T) {
	store := fixtureLake(t)
	champion := func() int {
		rec, err := model.Alias(context.Background(), store, "ctr", model.Champion)
		if err != nil {
			t.Fatal(err)
		}
		return rec.Version
	}
	ro := newServer(t, store, "")
	for _, p := range []string{"/api/v1/models/ctr/aliases/champion/rollback", "/api/v1/models/ctr/promote"} {
		if status, _, body := do(t, ro, "POST", p, `{}`, ""); status != http.StatusForbidden || !strings.Contains(string(body), "--allow-writes") {
			t.Errorf("read-only POST %s: %d %s, want 403 naming --allow-writes", p, status, body)
		}
	}
	if status, _, _ := do(t, ro, "POST", "/models/ctr/aliases/champion/rollback", "", ""); status == http.StatusOK || status == http.StatusSeeOther {
		t.Errorf("read-only form rollback answered %d", status)
	}
	rw := newWritableServer(t, store, "")
	req, _ := http.NewRequest("POST", rw.URL+"/models/ctr/aliases/champion/rollback", nil)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := rw.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin rollback: %d, want 403", resp.StatusCode)
	}
	if v := champion(); v != 4 {
		t.Fatalf("champion %d after refused writes, want 4", v)
	}
	// The same form from the console's own page works and says so.
	noRedirect := *rw.Client()
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ = http.NewRequest("POST", rw.URL+"/models/ctr/aliases/champion/rollback", nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "back+on+version+2") {
		t.Errorf("form rollback: %d to %q", resp.StatusCode, loc)
	}
	if v := champion(); v != 2 {
		t.Errorf("champion %d after the form rollback, want 2", v)
	}
	_, _, page := get(t, rw, "/models/ctr?msg=champion+is+back+on+version+2", "")
	for _, want := range []string{`action="/models/ctr/promote"`, "Roll the champion back to v1", "data-flash"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("writable model page lacks %q", want)
		}
	}
}

// TestAPIOnMinIO runs the read cases against the fixture in a real S3
// bucket (MinIO): listings, sizes, corrupt versions and reports behave as
// on the in-memory lake. An integration test: skipped under -short.
func TestAPIOnMinIO(t *testing.T) {
	store := laketest.MinIO(t)
	fillLake(t, store)
	ts := newServer(t, store, "")
	for _, c := range apiCases {
		if c.verb() != http.MethodGet {
			continue
		}
		status, _, body := get(t, ts, c.path, "")
		if status != c.status {
			t.Errorf("GET %s on MinIO: %d, want %d: %s", c.path, status, c.status, body)
			continue
		}
		if c.check != nil {
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil {
				t.Fatal(err)
			}
			t.Run(c.name, func(t *testing.T) { c.check(t, m) })
		}
	}
}
