package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image twice from the module (as "make image" does),
// requires the same bytes both times, checks the configuration (entrypoint,
// non-root user, platform), extracts the filesystem and runs the entrypoint
// with --help, and the predictor too.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the trainer and predictor for linux")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the extracted binaries are linux binaries")
	}
	ctx := context.Background()
	dir := t.TempDir()
	var tarballs [2][]byte
	for i := range tarballs {
		out := filepath.Join(dir, "image.tar")
		var log bytes.Buffer
		if err := run(ctx, []string{"-C", "../../..", "-o", out, "-tag", "lakestream:test"}, &log); err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		tarballs[i] = b
	}
	if !bytes.Equal(tarballs[0], tarballs[1]) {
		t.Fatal("two builds of the same source gave different images")
	}
	path := filepath.Join(dir, "image.tar")
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != User || strings.HasPrefix(cf.Config.User, "0") || cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("config: user %q, platform %s/%s; want %s, linux/%s", cf.Config.User, cf.OS, cf.Architecture, User, runtime.GOARCH)
	}
	if len(cf.Config.Entrypoint) != 1 {
		t.Fatalf("entrypoint %v", cf.Config.Entrypoint)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1 on an empty base", len(layers), err)
	}
	// Extract the filesystem as a container runtime would.
	root := filepath.Join(dir, "rootfs")
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: owner %d:%d, time %v; want root-owned files at the epoch", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, os.FileMode(h.Mode)&0o777); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(names)
	if want := []string{"etc", "etc/passwd", "predictor", "tmp", "trainer"}; !slices.Equal(names, want) {
		t.Errorf("image files %v, want %v", names, want)
	}
	entry := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(cf.Config.Entrypoint[0], "/")))
	out, err := exec.Command(entry, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "trainer") || !strings.Contains(string(out), "worker") {
		t.Errorf("%s --help: %v\n%s", cf.Config.Entrypoint[0], err, out)
	}
	out, err = exec.Command(filepath.Join(root, "predictor"), "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-listen") {
		t.Errorf("/predictor --help: %v\n%s", err, out)
	}
}
