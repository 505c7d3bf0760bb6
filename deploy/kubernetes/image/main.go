package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// User is the numeric user and group the image runs as (the "nonroot" id of
// distroless images).
const User = "65532:65532"

// Binaries are the commands packed into the image, at /<name>.
var Binaries = []string{"trainer", "predictor"}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	out := fs.String("o", "bin/lakestream-image.tar", "tarball to write")
	tag := fs.String("tag", "lakestream:dev", "image name and tag recorded in the tarball")
	arch := fs.String("arch", runtime.GOARCH, "target architecture (GOARCH): amd64 or arm64")
	module := fs.String("C", ".", "the Lakestream module's folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("-tag %q: %w", *tag, err)
	}
	tmp, err := os.MkdirTemp("", "lakestream-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bins := map[string]string{}
	for _, b := range Binaries {
		path := filepath.Join(tmp, b)
		if err := Compile(ctx, *module, "./cmd/"+b, path, *arch); err != nil {
			return err
		}
		bins[b] = path
	}
	img, err := Build(bins, *arch)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := tarball.WriteToFile(*out, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s, %s)\n", *out, ref, d)
	return nil
}

// Compile builds the Go package pkg of the module in dir into a static linux
// binary at out.
func Compile(ctx context.Context, dir, pkg, out, arch string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}

// Build returns the image: one layer holding each binary of bins (name →
// file) at /<name>, a /tmp the user can write, and /etc/passwd naming the
// user, on an empty base; /trainer is the entrypoint.
func Build(bins map[string]string, arch string) (v1.Image, error) {
	layer, err := Layer(bins)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = []string{"/trainer"}
	cf.Config.User = User
	cf.Config.WorkingDir = "/tmp"
	cf.Config.Env = []string{"PATH=/", "HOME=/tmp"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.title": "lakestream"}
	return mutate.ConfigFile(img, cf)
}

// Layer packs bins into an uncompressed tar layer with fixed metadata, so
// the same binaries always give the same digest.
func Layer(bins map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dirs := []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"tmp/", 0o1777}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	passwd := []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n")
	if err := writeFile(tw, "etc/passwd", 0o644, passwd); err != nil {
		return nil, err
	}
	for _, b := range Binaries {
		path, ok := bins[b]
		if !ok {
			return nil, fmt.Errorf("no %s binary", b)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := writeFile(tw, b, 0o755, data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if name == "" {
		return errors.New("empty file name")
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}
