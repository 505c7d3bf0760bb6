package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
	go func() { done <- runConsole(ctx, []string{"--lake", dir, "--listen", addr, "--token", "tok"}, &out) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("console: %v", err)
		}
	}()
	get := func(path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		var resp *http.Response
		for range 100 { // the server may still be starting
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
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
}
