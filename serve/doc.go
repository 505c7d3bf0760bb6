// Package serve is the predictor engine: it keeps the served version of each
// model behind an atomic pointer, answers the Open Inference Protocol v2 over
// gRPC, and swaps versions without failing or slowing a request.
//
// # Serving
//
// An Engine serves a fixed set of models by name. Each follows a reference: an
// alias such as "champion" (the default) or a pinned version. Requests take
// the current version with one atomic load and a reference count, so a swap
// never waits for requests and a request never waits for a swap.
//
// # Swapping
//
// A new version is found by Refresh, which a Watcher calls when an
// announcement arrives on the model topic or when its poll of the lake finds
// that the reference moved. Loading, checksum verification and a warm-up
// score run off the request path; only then is the pointer swapped. The old
// version keeps serving the requests that hold it and is closed when the last
// one releases it. A version that fails to load (a corrupt or incompatible
// artifact) is counted and logged, and the old version keeps serving.
//
// # Requests
//
// Inputs are named feature columns, one tensor per column (shape [batch] or
// [batch, 1]), typed contents or raw little-endian contents, BYTES with 4-byte
// length prefixes. They are written straight into the columns of an Arrow
// record in the model's input schema, kept in pooled memory and reused as
// is by the next request of the same size.
// The "score" output is FP64, in raw_output_contents as Triton sends it.
// Every response names the version that produced it. HTTPHandler serves the
// same protocol over HTTP/JSON (KServe v2 REST) with the binary tensor data
// extension.
//
// # Top N
//
// A served mf model whose version carries a catalogue also answers as
// "<name>:topn" (TopNSuffix): the input is the user id, named after the
// model's user column (BYTES, or an integer type for an integer column),
// shape [1], and optionally "n" (INT32 or INT64, 1 to model.MaxTopN,
// default 10); the outputs are "item_ids" (BYTES or INT64) and "scores"
// (FP64), best first, leaving out the items the user has in the catalogue.
// The parameter "lakestream.known_user" says whether the user was in it;
// an unknown user gets the model's ranking for an unknown user. Metadata
// describes the variant; it follows the model's versions.
//
// # Limits
//
// The token and an in-flight budget are checked from the headers before a
// request is read (internal/guard); a request is bounded on the wire by
// its model's columns and the batch limit before it is decoded; excess
// load is refused with ResourceExhausted (HTTP 429), never queued.
package serve
