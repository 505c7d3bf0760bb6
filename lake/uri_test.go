package lake_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lakestream/lakestream/lake"
)

func TestOpenLocal(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, uri := range []string{dir, "file://" + dir, "file://localhost" + dir, "FILE://" + dir} {
		s, err := lake.Open(ctx, uri)
		if err != nil {
			t.Errorf("Open(%q): %v", uri, err)
			continue
		}
		l, ok := s.(*lake.Local)
		if !ok || l.Root() != dir {
			t.Errorf("Open(%q) = %T %v, want a *lake.Local rooted at %s", uri, s, s, dir)
		}
	}
	rel, err := lake.Open(ctx, "relative/lake")
	if err != nil {
		t.Fatal(err)
	}
	if abs, _ := filepath.Abs("relative/lake"); rel.(*lake.Local).Root() != abs {
		t.Errorf("relative path root = %s, want %s", rel.(*lake.Local).Root(), abs)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	tests := []struct {
		uri     string
		is      error
		mention string
	}{
		{"", nil, "empty lake URI"},
		{"gs://bucket/x", lake.ErrUnknownScheme, `"gs"`},
		{"hdfs://nn/x", lake.ErrUnknownScheme, "s3://bucket/prefix"},
		{"file://host/x", nil, "three slashes"},
		{"file://", nil, "no path"},
		{"s3://", nil, "names no bucket"},
		{"s3:///prefix", nil, "names no bucket"},
		{"s3://bucket/a/../b", lake.ErrInvalidKey, "a/../b"},
	}
	for _, tt := range tests {
		_, err := lake.Open(ctx, tt.uri)
		if err == nil {
			t.Errorf("Open(%q) succeeded", tt.uri)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("Open(%q) = %v, want errors.Is %v", tt.uri, err, tt.is)
		}
		if !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Open(%q) = %v, want it to mention %q", tt.uri, err, tt.mention)
		}
	}
}

// fakeS3 answers HEAD bucket requests and records what the client sent.
type fakeS3 struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Clone(r.Context()))
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (f *fakeS3) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.reqs...)
}

func envMap(m map[string]string) lake.Option {
	return lake.WithEnv(func(k string) (string, bool) { v, ok := m[k]; return v, ok })
}

func TestOpenS3Unreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens on addr any more
	_, err := lake.Open(t.Context(), "s3://bucket/x", lake.WithEndpoint(addr), lake.WithCredentials("a", "b", ""), lake.WithAttempts(1))
	if err == nil || !strings.Contains(err.Error(), "cannot reach the S3 endpoint "+addr) || !strings.Contains(err.Error(), "LAKESTREAM_S3_ENDPOINT") {
		t.Errorf("Open against a closed port: %v, want an error naming the endpoint and the variable", err)
	}
}

func TestOpenS3Config(t *testing.T) {
	ctx := t.Context()
	winner, loser := &fakeS3{}, &fakeS3{}
	ws, ls := httptest.NewServer(winner), httptest.NewServer(loser)
	defer ws.Close()
	defer ls.Close()
	wHost := strings.TrimPrefix(ws.URL, "http://")

	tests := []struct {
		name      string
		opts      []lake.Option
		wantScope string // credential scope in the Authorization header
		wantToken string
		wantPath  string
		anonymous bool
	}{
		{
			name: "LAKESTREAM_S3_ENDPOINT wins over AWS_ENDPOINT_URL",
			opts: []lake.Option{envMap(map[string]string{
				"LAKESTREAM_S3_ENDPOINT": wHost, "AWS_ENDPOINT_URL": ls.URL,
				"AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "eu-west-3",
			})},
			wantScope: "Credential=AKENV/", wantPath: "/mybucket/",
		},
		{
			name: "AWS_ENDPOINT_URL with session token and default region",
			opts: []lake.Option{envMap(map[string]string{
				"AWS_ENDPOINT_URL":  ws.URL,
				"AWS_ACCESS_KEY_ID": "AKTMP", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok",
			})},
			wantScope: "/us-east-1/s3/aws4_request", wantToken: "tok", wantPath: "/mybucket/",
		},
		{
			name: "options win over the environment",
			opts: []lake.Option{
				envMap(map[string]string{"LAKESTREAM_S3_ENDPOINT": ls.URL, "AWS_ACCESS_KEY_ID": "AKENV", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "eu-west-3"}),
				lake.WithEndpoint(ws.URL), lake.WithCredentials("AKOPT", "s", ""), lake.WithRegion("ap-south-1"),
			},
			wantScope: "Credential=AKOPT/", wantPath: "/mybucket/",
		},
		{
			name:      "no credentials means anonymous",
			opts:      []lake.Option{envMap(map[string]string{"LAKESTREAM_S3_ENDPOINT": wHost})},
			anonymous: true, wantPath: "/mybucket/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(winner.requests())
			s, err := lake.Open(ctx, "s3://mybucket/some/prefix", tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.(*lake.S3).String(); got != "s3://mybucket/some/prefix/" {
				t.Errorf("String() = %q", got)
			}
			reqs := winner.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("winning endpoint got %d requests, want 1 (HEAD bucket)", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodHead || r.URL.Path != tt.wantPath {
				t.Errorf("request %s %s, want HEAD %s (path style)", r.Method, r.URL.Path, tt.wantPath)
			}
			auth := r.Header.Get("Authorization")
			if tt.anonymous != (auth == "") {
				t.Errorf("Authorization = %q, anonymous %v", auth, tt.anonymous)
			}
			if !strings.Contains(auth, tt.wantScope) {
				t.Errorf("Authorization = %q, want it to contain %q", auth, tt.wantScope)
			}
			if got := r.Header.Get("X-Amz-Security-Token"); got != tt.wantToken {
				t.Errorf("session token header = %q, want %q", got, tt.wantToken)
			}
		})
	}
	if n := len(loser.requests()); n != 0 {
		t.Errorf("the endpoint with lower precedence got %d requests", n)
	}
	// Region precedence, checked on the signature scope.
	for _, tt := range []struct {
		env  map[string]string
		opts []lake.Option
		want string
	}{
		{map[string]string{"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "us-west-1"}, nil, "/eu-west-3/s3/"},
		{map[string]string{"AWS_DEFAULT_REGION": "us-west-1"}, nil, "/us-west-1/s3/"},
		{map[string]string{"AWS_REGION": "eu-west-3"}, []lake.Option{lake.WithRegion("ap-south-1")}, "/ap-south-1/s3/"},
	} {
		tt.env["LAKESTREAM_S3_ENDPOINT"] = wHost
		tt.env["AWS_ACCESS_KEY_ID"], tt.env["AWS_SECRET_ACCESS_KEY"] = "AK", "SK"
		before := len(winner.requests())
		if _, err := lake.Open(ctx, "s3://bkt", append([]lake.Option{envMap(tt.env)}, tt.opts...)...); err != nil {
			t.Fatal(err)
		}
		if auth := winner.requests()[before].Header.Get("Authorization"); !strings.Contains(auth, tt.want) {
			t.Errorf("env %v opts %d: Authorization %q, want region scope %q", tt.env, len(tt.opts), auth, tt.want)
		}
	}
}

func TestValidateURI(t *testing.T) {
	for _, tc := range []struct {
		uri string
		ok  bool
	}{
		{"qs", true},
		{"/srv/lake", true},
		{"file:///srv/lake", true},
		{"s3://lakestream-demo", true},
		{"s3://lakestream-demo/qs/", true},
		{"", false},
		{"gs://bucket/x", false},
		{"s3://", false},
		{"s3://Bad_Bucket/qs", false},
		{"s3://ab/qs", false},
		{"s3://lakestream-demo/a//b", false},
	} {
		if err := lake.ValidateURI(tc.uri); (err == nil) != tc.ok {
			t.Errorf("ValidateURI(%q) = %v, want ok %v", tc.uri, err, tc.ok)
		}
	}
}
