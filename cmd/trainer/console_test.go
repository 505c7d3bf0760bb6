package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lakestream/lakestream/model"
)

// TestConsoleAfterQuickstart is the console's acceptance path: after the
// quickstart, `trainer console` lists both models with their AUCs and
// draws their plots; after `models promote` the API and the page show the
// new champion without a restart.
func TestConsoleAfterQuickstart(t *testing.T) {
	dir, _ := quickstartLake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out strings.Builder
	var send func(method, path, body string) (int, []byte)
	go func() {
		done <- runConsole(ctx, []string{"--lake", dir, "--listen", addr, "--token", "tok", "--allow-writes"}, &out)
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("console: %v", err)
		}
	}()
	get := func(path string) (int, []byte) {
		t.Helper()
		return send(http.MethodGet, path, "")
	}
	send = func(method, path, body string) (int, []byte) {
		t.Helper()
		var resp *http.Response
		var err error
		for range 100 { // the server may still be starting
			req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer tok")
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, raw
	}

	status, body := get("/api/v1/models")
	var list struct {
		Models []struct {
			Name          string
			LatestVersion struct{ AUC float64 } `json:"latest_version"`
		}
	}
	if err := json.Unmarshal(body, &list); status != 200 || err != nil {
		t.Fatalf("GET /api/v1/models: %d %v: %s", status, err, body)
	}
	if len(list.Models) != 2 || list.Models[0].Name != "quickstart-fm" || list.Models[1].Name != "quickstart-lr" {
		t.Fatalf("models %+v, want quickstart-fm and quickstart-lr", list.Models)
	}
	for _, m := range list.Models {
		if m.LatestVersion.AUC < 0.6 {
			t.Errorf("%s: AUC %v", m.Name, m.LatestVersion.AUC)
		}
		for _, plot := range []string{"roc.svg", "pr.png", "calibration.svg"} {
			if status, body := get("/api/v1/models/" + m.Name + "/versions/1/plots/" + plot); status != 200 || len(body) < 1000 {
				t.Errorf("%s plot %s: %d, %d bytes", m.Name, plot, status, len(body))
			}
		}
	}
	if status, _ := get("/api/v1/models/quickstart-fm/versions/champion"); status != 404 {
		t.Fatalf("champion before any promotion: %d, want 404", status)
	}

	var promoted strings.Builder
	if err := runModels(context.Background(), []string{"promote", "quickstart-fm", "1", "--lake", dir, "--data", "clicks", "--dt", "2014-10-24"}, &promoted); err != nil {
		t.Fatalf("models promote: %v\n%s", err, promoted.String())
	}
	status, body = get("/api/v1/models/quickstart-fm/versions/champion")
	var v struct {
		Version  int
		Aliases  []string
		Decision struct{ Promoted bool }
	}
	if err := json.Unmarshal(body, &v); status != 200 || err != nil || v.Version != 1 || !v.Decision.Promoted {
		t.Fatalf("champion after the promotion: %d %+v %v", status, v, err)
	}
	if status, page := get("/"); status != 200 || !strings.Contains(string(page), `data-champion-version="1"`) {
		t.Errorf("the models page does not show the new champion (status %d)", status)
	}

	// With --allow-writes the API promotes through the same gate.
	status, body = send(http.MethodPost, "/api/v1/models/quickstart-lr/promote", `{"version": 1, "data": "clicks", "dt": "2014-10-24", "min_auc": 0.6}`)
	var res struct {
		Promoted bool
		Decision struct {
			CandidateValue float64 `json:"candidate_value"`
			Slice          string
		}
		Champion struct{ Version int }
	}
	if err := json.Unmarshal(body, &res); status != 200 || err != nil || !res.Promoted || res.Champion.Version != 1 ||
		res.Decision.CandidateValue < 0.6 || res.Decision.Slice != "clicks dt=2014-10-24" {
		t.Fatalf("POST promote: %d %s", status, body)
	}
	if status, body := send(http.MethodPost, "/api/v1/models/quickstart-lr/promote", `{"version": 1, "data": "clicks", "dt": "2014-10-24"}`); status != 409 {
		t.Errorf("promoting the champion again: %d %s, want 409", status, body)
	}
	if status, body := send(http.MethodPost, "/api/v1/models/quickstart-fm/aliases/champion/rollback", ""); status != 409 {
		t.Errorf("rollback with no earlier champion: %d %s, want 409", status, body)
	}

	// A warm-started version names its parent in its lineage.
	var trained strings.Builder
	if err := runTrain(context.Background(), []string{"--lake", dir, "--data", "clicks", "--spec", filepath.Join(dir, "specs", "clicks.yaml"),
		"--dt", "2014-10-23", "--model", "fm", "--factors", "8", "--optimizer", "ftrl", "--warm-start", "quickstart-fm", "--output", "quickstart-fm"}, &trained); err != nil {
		t.Fatalf("train --warm-start: %v\n%s", err, trained.String())
	}
	status, body = get("/api/v1/models/quickstart-fm/versions/2")
	var warm struct{ Lineage struct{ Parent int } }
	if err := json.Unmarshal(body, &warm); status != 200 || err != nil || warm.Lineage.Parent != 1 {
		t.Errorf("warm-started version 2: %d, lineage %+v, want parent 1", status, warm.Lineage)
	}

	// trainer eval --save keeps a version's report where the console draws
	// its plots from.
	if err := os.Remove(filepath.Join(dir, model.ReportKey("quickstart-lr", 1))); err != nil {
		t.Fatal(err)
	}
	if status, _ := get("/api/v1/models/quickstart-lr/versions/1/plots/roc.svg"); status != 404 {
		t.Fatalf("plot without a report: %d, want 404", status)
	}
	var evalOut strings.Builder
	if err := runEval(context.Background(), []string{"--lake", dir, "--data", "clicks", "--dt", "2014-10-24", "--model", "quickstart-lr@champion",
		"--save", "--out", t.TempDir()}, &evalOut); err != nil {
		t.Fatalf("eval --save: %v\n%s", err, evalOut.String())
	}
	if status, body := get("/api/v1/models/quickstart-lr/versions/1/plots/roc.svg"); status != 200 || !strings.Contains(string(body), "<svg") {
		t.Errorf("plot after eval --save: %d", status)
	}
}

func TestConsoleFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--lake", dir, "--tls-cert", "c.pem"}, "go together"},
		{[]string{"--lake", dir, "--listen", "8080"}, "want host:port"},
		{[]string{"--lake", dir + "/missing"}, "no such folder"},
		{[]string{"--lake", dir, "--kafka-brokers", "k:9092"}, "need --allow-writes"},
		{[]string{"--lake", dir, "--token", " padded "}, "spaces"},
	} {
		err := runConsole(context.Background(), c.args, io.Discard)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("console %v: %v, want a usage error with %q", c.args, err, c.want)
		}
	}
}
