package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lakestream/lakestream/internal/cliconfig"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/console"
)

// runConsole is "trainer console": the registry's web page and REST API
// (package model/console) on one port, read-only unless --allow-writes.
//
// It is a trainer subcommand, not a predictor feature: it reads the
// registry the way `trainer models` does and is an operator's tool next to
// `trainer models`, `eval` and `schedule`, while the predictor is the lean
// serving binary on the request path, which should not carry a web UI.
func runConsole(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	uri := lakeFlag(fs)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the console on (host:port)")
	token := fs.String("token", "", "require this bearer token on every route, pages included (browsers get a sign-in form) (env LAKESTREAM_TOKEN)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate file (with --tls-key) to serve HTTPS")
	tlsKey := fs.String("tls-key", "", "TLS private key file")
	allowWrites := fs.Bool("allow-writes", false, "enable promoting through the gate and rolling back, from the page and POST /api/v1/... (default: read-only)")
	var ann announceFlags
	ann.register(fs)
	cliconfig.Secret(fs, "token")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	var writes *console.Writes
	switch {
	case *allowWrites:
		writes = &console.Writes{}
		if ann.brokers != "" {
			writes.Announce = model.DefaultAnnounceConfig(strings.Split(ann.brokers, ",")...)
			writes.Announce.Topic = ann.topic
		}
	case onCommandLine(args, "kafka-brokers"), onCommandLine(args, "model-topic"):
		// From the environment they configure every command and are
		// harmless here; on the command line they would be ignored.
		return &usageError{"console: --kafka-brokers and --model-topic announce promotions, which need --allow-writes"}
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return &usageError{"console: --tls-cert and --tls-key go together"}
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return &usageError{fmt.Sprintf("console: --listen %q: want host:port (e.g. 127.0.0.1:8080)", *listen)}
	}
	var tlsConf *tls.Config
	if *tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	// The console only reads: a local lake that does not exist is a typo,
	// not a lake to create.
	if local, ok := store.(*lake.Local); ok {
		if _, err := os.Stat(local.Root()); err != nil {
			return &usageError{fmt.Sprintf("console: --lake %s: no such folder (train a model into it first, e.g. trainer quickstart --lake %s)", *uri, *uri)}
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := console.New(console.Config{Store: store, Lake: *uri, Token: *token, Secure: tlsConf != nil, Writes: writes, Logger: logger})
	if err != nil {
		return &usageError{err.Error()}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	hs := &http.Server{Handler: srv, TLSConfig: tlsConf, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	mode := "read-only"
	if writes != nil {
		mode = "promote and rollback enabled"
	}
	fmt.Fprintf(stdout, "Lakestream console for %s on %s://%s/ (%s; Ctrl-C stops)\n", *uri, scheme, ln.Addr(), mode)
	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// onCommandLine reports whether args set flag name (as -name or --name,
// with or without =value).
func onCommandLine(args []string, name string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}
