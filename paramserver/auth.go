package paramserver

import (
	"context"

	"github.com/lakestream/lakestream/internal/guard"
)

// The shared token travels as "authorization: Bearer <token>" metadata on
// every call. Without TLS it crosses the network in clear text: use it with
// TLS outside a trusted network.
// The server side is internal/guard.
const authHeader = guard.Header

// tokenCredentials attaches the shared token to every call.
type tokenCredentials struct {
	token  string
	secure bool
}

func (c tokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{authHeader: "Bearer " + c.token}, nil
}

func (c tokenCredentials) RequireTransportSecurity() bool { return c.secure }
