// Package console is the registry's web face: a REST API and server-rendered
// pages over a lake's models, their versions, aliases, gate decisions and
// evaluation reports. `trainer console` serves it on one port.
//
// # Reading
//
// Everything is read from the lake on each request, so a promotion made by
// another process (`trainer models promote`, a scheduler, a stream job)
// shows on the next page load without a restart; nothing is cached. The
// listing never stops at a bad version: a manifest that does not decode, or
// a file missing or of the wrong size, marks that version corrupt (with the
// object at fault) and the rest of the registry lists (model.ListVersions).
//
// # REST API
//
// Routes live under /api/v1 and answer JSON; openapi.yaml (served at
// /api/openapi.yaml, embedded) documents them, and a test validates every
// handler's responses against it. Errors are {"error": "..."} with the
// status: 404 for an unknown model, version or alias, 400 for a malformed
// one, 401 without the token. A version may be named by number or by alias
// (/api/v1/models/ctr/versions/champion).
//
// # Pages
//
// The models list, a model's versions (metrics, where each alias points,
// the champion's metric over versions as an inline SVG chart), and a
// version (lineage, gate decision, the held-out report's metrics and its
// ROC, precision–recall and calibration plots, drawn by eval from the report
// at model.ReportKey). Templates, styles and the little JavaScript the pages
// use are embedded: the binary needs no network and no build step.
//
// # Security
//
// With Config.Token set every route, pages and assets included, answers 401
// unless the request carries "Authorization: Bearer TOKEN" or the session
// cookie that the token form (POST /login) sets. Tokens are compared in
// constant time. The server writes nothing unless Config.Writes is set.
package console
