package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/lakestream/lakestream/model/console"
)

// TestOpenAPIConformance validates every response of the REST table, and
// the 401s of a console with a token, against openapi.yaml (with
// kin-openapi): status codes, content types and bodies must be documented,
// and every documented operation must be exercised.
func TestOpenAPIConformance(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(console.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.FileBodyDecoder)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	const token = "conformance"
	seen := map[string]bool{}
	check := func(t *testing.T, c apiCase, srvURL, bearer string, client *http.Client) {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		req, err := http.NewRequest(c.verb(), srvURL+c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		path := c.path
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s is undocumented but answers %d", path, resp.StatusCode)
			}
			return
		}
		seen[route.Operation.OperationID] = true
		if c.body != "" { // the request validator reads the body again
			req.Body = io.NopCloser(strings.NewReader(c.body))
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		// Requests of the bad-input cases need not fit (that is the point);
		// their responses must.
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil && resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: the request does not fit the document: %v", path, err)
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
			Header: resp.Header, Body: io.NopCloser(bytes.NewReader(raw)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("GET %s (%d): the response does not fit openapi.yaml: %v", path, resp.StatusCode, err)
		}
	}
	for _, c := range apiCases {
		t.Run(c.name, func(t *testing.T) {
			// Fresh lakes: the write cases change them.
			open, locked := newWritableServer(t, fixtureLake(t), ""), newWritableServer(t, fixtureLake(t), token)
			readOnly := newServer(t, fixtureLake(t), "")
			check(t, c, open.URL, "", open.Client())
			check(t, c, locked.URL, "", locked.Client())
			check(t, c, locked.URL, token, locked.Client())
			check(t, c, readOnly.URL, "", readOnly.Client())
		})
	}
	for _, p := range doc.Paths.InMatchingOrder() {
		for _, op := range doc.Paths.Value(p).Operations() {
			if !seen[op.OperationID] {
				t.Errorf("operation %s (%s) is documented but no test request reached it", op.OperationID, p)
			}
		}
	}
}
