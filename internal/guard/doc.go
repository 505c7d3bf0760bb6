// Package guard admits gRPC calls before their request bodies are read: the
// bearer token and an in-flight budget are checked from the HTTP/2 headers
// in a tap handle (grpc.InTapHandle), so an unauthenticated or excess call
// is answered at once and its message is never buffered nor decoded.
//
// gRPC's interceptors run only after the whole request message has been
// received and unmarshalled: a token interceptor let one unauthenticated
// 16 MiB message of empty fields take a server to 0.9 GB before it said
// Unauthenticated. A tap handle runs when the headers arrive; the data
// frames of a refused stream are discarded by the transport.
//
// The predictor (serve) and the parameter server use the same Guard.
//
// # Budget
//
// MaxInFlight bounds the calls admitted at once across all connections.
// A call holds its slot from its headers until its stream's context
// ends, so the memory of messages being received, decoded and
// handled is at most MaxInFlight × the largest message the server accepts.
// Calls beyond the budget get ResourceExhausted without waiting: excess load
// is refused, not queued.
package guard
