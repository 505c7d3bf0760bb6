package lake

import (
	"errors"
	"io"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in      string
		host    string
		secure  bool
		wantErr bool
	}{
		{"127.0.0.1:19000", "127.0.0.1:19000", false, false},
		{"localhost:9000", "localhost:9000", false, false},
		{"[::1]:9000", "[::1]:9000", false, false},
		{"minio.internal:9000", "minio.internal:9000", true, false},
		{"s3.amazonaws.com", "s3.amazonaws.com", true, false},
		{"http://minio.internal:9000", "minio.internal:9000", false, false},
		{"https://127.0.0.1:9000", "127.0.0.1:9000", true, false},
		{"https://s3.example.com/", "s3.example.com", true, false},
		{"https://s3.example.com/path", "", false, true},
		{"ftp://x", "", false, true},
		{"host/path", "", false, true},
	}
	for _, tt := range tests {
		host, secure, err := parseEndpoint(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseEndpoint(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (host != tt.host || secure != tt.secure) {
			t.Errorf("parseEndpoint(%q) = %q, %v; want %q, %v", tt.in, host, secure, tt.host, tt.secure)
		}
	}
}

func TestExactReader(t *testing.T) {
	// Covered end to end by laketest.TestStore's PutSizeMismatch on MinIO;
	// here the boundary cases without a server.
	tests := []struct {
		data     string
		declared int64
		wantErr  bool
	}{
		{"abcd", 4, false},
		{"", 0, false},
		{"abcd", 3, true},
		{"abcd", 5, true},
		{"", 1, true},
		{"a", 0, true},
	}
	for _, tt := range tests {
		r := &exactReader{r: stringsReader(tt.data), remaining: tt.declared, declared: tt.declared}
		var got []byte
		buf := make([]byte, 2)
		var err error
		for {
			var n int
			n, err = r.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
		}
		if tt.wantErr {
			if !errors.Is(err, ErrSizeMismatch) {
				t.Errorf("exactReader(%q, %d) ended with %v, want ErrSizeMismatch", tt.data, tt.declared, err)
			}
			continue
		}
		if err != io.EOF || string(got) != tt.data {
			t.Errorf("exactReader(%q, %d) = %q, %v", tt.data, tt.declared, got, err)
		}
	}
}

type oneByteReader struct{ s string }

// stringsReader returns a reader that yields one byte per Read, the worst
// case for exactReader's end-of-data detection.
func stringsReader(s string) *oneByteReader { return &oneByteReader{s} }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.s[0]
	r.s = r.s[1:]
	return 1, nil
}
