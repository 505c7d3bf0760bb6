package console

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/lakestream/lakestream/lake"
)

//go:embed templates/*.html static/* openapi.yaml
var assets embed.FS

// OpenAPI returns the OpenAPI 3 document of the REST API.
func OpenAPI() []byte {
	b, err := assets.ReadFile("openapi.yaml")
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// Config configures a Server.
type Config struct {
	// Store is the lake the registry lives in.
	Store lake.Store
	// Lake is how the lake is shown on the pages (the --lake value).
	Lake string
	// Token, when set, is required on every route: "Authorization: Bearer
	// TOKEN", or the cookie the token form sets.
	Token string
	// Secure marks the session cookie Secure (set it when serving TLS).
	Secure bool
	// Writes, when set, enables promoting (through the gate) and rolling
	// back from the API and the pages; nil serves read-only.
	Writes *Writes
	// Logger receives one line per failed request (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock the pages use for "3 hours ago" (default time.Now).
	Now func() time.Time
}

// Validate reports a config the server cannot run with.
func (c *Config) Validate() error {
	if c.Store == nil {
		return errors.New("console: no lake store")
	}
	if c.Token != "" && strings.TrimSpace(c.Token) != c.Token {
		return errors.New("console: the token has leading or trailing spaces")
	}
	if c.Writes != nil {
		return c.Writes.Validate()
	}
	return nil
}

// Server serves the console's pages and REST API. It is an http.Handler,
// safe for concurrent use; it holds no state between requests but the
// parsed templates.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
	token [sha256.Size]byte
}

// cookieName is the session cookie that carries the token from a browser.
const cookieName = "lakestream_console"

// New checks cfg and builds the server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	if cfg.Token != "" {
		s.token = sha256.Sum256([]byte(cfg.Token))
	}
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	static, _ := fs.Sub(assets, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheable(http.FileServerFS(static))))
	s.mux.HandleFunc("GET /api/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(OpenAPI())
	})
	s.mux.HandleFunc("POST /login", s.login)

	s.mux.HandleFunc("GET /api/v1/models", s.apiModels)
	s.mux.HandleFunc("GET /api/v1/models/{name}", s.apiModel)
	s.mux.HandleFunc("GET /api/v1/models/{name}/aliases", s.apiAliases)
	s.mux.HandleFunc("GET /api/v1/models/{name}/versions/{version}", s.apiVersion)
	s.mux.HandleFunc("GET /api/v1/models/{name}/versions/{version}/report", s.apiReport)
	s.mux.HandleFunc("GET /api/v1/models/{name}/versions/{version}/plots/{plot}", s.apiPlot)
	s.mux.HandleFunc("GET /api/v1/schedules", s.apiSchedules)
	s.mux.HandleFunc("GET /api/v1/schedules/{job}", s.apiSchedule)
	s.mux.HandleFunc("GET /api/v1/streams", s.apiStreams)
	s.mux.HandleFunc("GET /api/v1/streams/{job}", s.apiStream)
	// Writes: cross-origin POSTs are refused (a page elsewhere cannot make
	// a browser with the session cookie promote).
	csrf := http.NewCrossOriginProtection()
	if s.cfg.Writes != nil {
		s.mux.Handle("POST /api/v1/models/{name}/promote", csrf.Handler(http.HandlerFunc(s.apiPromote)))
		s.mux.Handle("POST /api/v1/models/{name}/aliases/{alias}/rollback", csrf.Handler(http.HandlerFunc(s.apiRollback)))
		s.mux.Handle("POST /models/{name}/promote", csrf.Handler(http.HandlerFunc(s.formPromote)))
		s.mux.Handle("POST /models/{name}/aliases/{alias}/rollback", csrf.Handler(http.HandlerFunc(s.formRollback)))
	} else {
		s.mux.HandleFunc("POST /api/v1/models/{name}/promote", readOnly)
		s.mux.HandleFunc("POST /api/v1/models/{name}/aliases/{alias}/rollback", readOnly)
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API route %s %s (see /api/openapi.yaml)", r.Method, r.URL.Path))
	})

	s.mux.HandleFunc("GET /{$}", s.pageModels)
	s.mux.HandleFunc("GET /models/{name}", s.pageModel)
	s.mux.HandleFunc("GET /models/{name}/versions/{version}", s.pageVersion)
	s.mux.HandleFunc("GET /jobs", s.pageJobs)
	s.mux.HandleFunc("GET /jobs/streams/{job}", s.pageStream)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, fmt.Sprintf("There is no page at %s.", r.URL.Path))
	})
}

// cacheable lets browsers keep the embedded assets for an hour; they change
// only with the binary.
func cacheable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// ServeHTTP authenticates the request, then routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	if r.Method == http.MethodPost && r.URL.Path == "/login" {
		s.login(w, r) // checks the token the form carries
		return
	}
	if s.cfg.Token != "" && !s.authorized(r) {
		if isAPI(r) || r.Method != http.MethodGet {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lakestream console"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong token: send \"Authorization: Bearer TOKEN\" (the console's --token)")
			return
		}
		s.renderLogin(w, r, "")
		return
	}
	s.mux.ServeHTTP(w, r)
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// authorized reports whether r carries the token, as a bearer header or the
// session cookie.
func (s *Server) authorized(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.tokenMatches(tok)
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return s.tokenMatches(c.Value)
	}
	return false
}

func (s *Server) tokenMatches(tok string) bool {
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

// login is POST /login: the token form. A wrong token answers 401 with the
// form again; the right one sets the session cookie and redirects.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	tok := r.PostFormValue("token")
	if !s.tokenMatches(tok) {
		s.renderLogin(w, r, "That token is not the console's.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: tok, Path: "/", HttpOnly: true,
		Secure: s.cfg.Secure, SameSite: http.SameSiteStrictMode})
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// apiError is the body of every error the REST API returns.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg})
}
