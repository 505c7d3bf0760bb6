package lake

import (
	"fmt"
	"strings"
)

// ValidateKey reports whether key can name an object in every store: it must
// be non-empty, must not start or end with "/", and its slash-separated
// segments must be non-empty, not "." or "..", and free of NUL bytes. The
// error wraps ErrInvalidKey and quotes the key.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w %q: contains a NUL byte", ErrInvalidKey, key)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: keys are relative, drop the leading slash", ErrInvalidKey, key)
	}
	if strings.HasSuffix(key, "/") {
		return fmt.Errorf("%w %q: a key ending in a slash names a folder, not an object", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w %q: empty path segment", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w %q: %q segments are not allowed", ErrInvalidKey, key, seg)
		}
	}
	return nil
}

// ValidatePrefix checks a listing prefix: the folder part (everything up to
// its last slash) must be a valid key (see ValidateKey); the part after the
// last slash is a plain string prefix of the next segment and may be
// anything. "" lists everything.
func ValidatePrefix(prefix string) error {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		if strings.IndexByte(prefix, 0) >= 0 {
			return fmt.Errorf("%w: prefix %q contains a NUL byte", ErrInvalidKey, prefix)
		}
		return nil
	}
	if err := ValidateKey(prefix[:i]); err != nil {
		return fmt.Errorf("list prefix %q: %w", prefix, err)
	}
	return nil
}
