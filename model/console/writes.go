package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/model"
)

// The write actions, served only when Config.Writes is set: promote a
// version through the gate and roll an alias back. They call the same
// library code as `trainer models promote` and `rollback`
// (evaltable.GateEvaluation, model.Promote, model.Rollback, model.Announce).

// Writes enables the console's write actions.
type Writes struct {
	// Announce, when it names brokers, announces every alias move on the
	// model topic so predictors load it at once.
	Announce model.AnnounceConfig
}

// Validate reports an announcement configuration that cannot work.
func (w *Writes) Validate() error {
	if len(w.Announce.Brokers) > 0 {
		return w.Announce.Validate()
	}
	return nil
}

// PromoteRequest is the body of POST /api/v1/models/{name}/promote.
type PromoteRequest struct {
	Version int `json:"version"`
	// Data, DT and Where name the held-out slice both the candidate and the
	// champion are scored on.
	Data  string `json:"data"`
	DT    string `json:"dt,omitempty"`
	Where string `json:"where,omitempty"`
	// MinAUC is the gate's floor (default 0.5); MaxDrop how far below the
	// champion's AUC the candidate may be (default 0.002).
	MinAUC  *float64 `json:"min_auc,omitempty"`
	MaxDrop *float64 `json:"max_drop,omitempty"`
}

// PromoteResult is the answer of a promotion: the gate's decision, and
// the champion alias when it moved.
type PromoteResult struct {
	Promoted bool       `json:"promoted"`
	Decision *Decision  `json:"decision"`
	Champion *AliasInfo `json:"champion,omitempty"`
	// Announced is true when the move was announced on the model topic.
	Announced bool `json:"announced"`
	// AnnounceError says why the announcement failed (the alias has moved
	// all the same; predictors see it at their next poll).
	AnnounceError string `json:"announce_error,omitempty"`
}

// RollbackRequest is the body of POST
// /api/v1/models/{name}/aliases/{alias}/rollback.
type RollbackRequest struct {
	// To is the version to go back to; 0 (or absent) means the version the
	// alias designated before.
	To int `json:"to,omitempty"`
}

// RollbackResult is the alias after a rollback.
type RollbackResult struct {
	Alias         AliasInfo `json:"alias"`
	Announced     bool      `json:"announced"`
	AnnounceError string    `json:"announce_error,omitempty"`
}

// Errors of the write actions, mapped to statuses.
var (
	errBadRequest = errors.New("bad request")
	errConflict   = errors.New("conflict")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// promote runs the gate on req.Version of name and moves the champion
// when it passes.
func (s *Server) promote(ctx context.Context, name string, req PromoteRequest) (*PromoteResult, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, notFound("%v", err)
	}
	if req.Version < 1 {
		return nil, badRequest("version %d: give the version to promote (≥ 1)", req.Version)
	}
	gate := model.Gate{Metric: "auc", Floor: model.DefaultMinAUC, Epsilon: model.DefaultMaxDrop}
	if req.MinAUC != nil {
		gate.Floor = *req.MinAUC
	}
	if req.MaxDrop != nil {
		gate.Epsilon = *req.MaxDrop
	}
	if err := gate.Validate(); err != nil {
		return nil, badRequest("%v", err)
	}
	if req.Data == "" {
		return nil, badRequest("data: name the held-out table the gate scores both versions on")
	}
	cfg := evaltable.DefaultConfig()
	cfg.Data, cfg.DT, cfg.Where, cfg.Model = req.Data, req.DT, req.Where, name
	if err := cfg.Validate(); err != nil {
		return nil, badRequest("%v", err)
	}
	store := s.cfg.Store
	if _, err := model.ReadManifest(ctx, store, name, req.Version); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return nil, notFound("model %q has no version %d", name, req.Version)
		}
		return nil, badRequest("version %d cannot be promoted: %v", req.Version, err)
	}
	ev, err := evaltable.GateEvaluation(ctx, store, cfg, name, req.Version)
	switch {
	case errors.Is(err, evaltable.ErrAlreadyChampion):
		return nil, fmt.Errorf("%w: %s version %d is already the champion", errConflict, name, req.Version)
	case errors.Is(err, evaltable.ErrInvalidConfig), errors.Is(err, dataset.ErrNoFiles), errors.Is(err, dataset.ErrUnknownColumn):
		// The slice named in the request does not fit: a table with no
		// files, or without the model's columns.
		return nil, badRequest("evaluate %s version %d on %s: %v", name, req.Version, cfg.Slice(), err)
	case err != nil:
		return nil, fmt.Errorf("evaluate %s version %d on %s: %w", name, req.Version, cfg.Slice(), err)
	}
	d, rec, err := model.Promote(ctx, store, name, req.Version, gate, ev)
	if errors.Is(err, model.ErrConflict) {
		return nil, fmt.Errorf("%w: %v", errConflict, err)
	}
	if err != nil {
		return nil, err
	}
	res := &PromoteResult{Promoted: d.Promoted, Decision: decisionInfo(d)}
	if d.Promoted {
		ai := aliasInfo(rec)
		res.Champion = &ai
		res.Announced, res.AnnounceError = s.announce(ctx, name, rec)
	}
	return res, nil
}

// rollback moves alias of name back (to 0: the version before).
func (s *Server) rollback(ctx context.Context, name, alias string, to int) (*RollbackResult, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, notFound("%v", err)
	}
	if to < 0 {
		return nil, badRequest("to %d: give a version (≥ 1), or 0 for the one before", to)
	}
	if _, err := model.Alias(ctx, s.cfg.Store, name, alias); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return nil, notFound("model %q has no alias %q", name, alias)
		}
		if !errors.Is(err, model.ErrCorrupt) {
			return nil, notFound("model %q has no alias %q (%v)", name, alias, err)
		}
		return nil, err
	}
	rec, err := model.Rollback(ctx, s.cfg.Store, name, alias, to)
	if err != nil {
		if errors.Is(err, model.ErrNotFound) || errors.Is(err, model.ErrCorrupt) {
			return nil, badRequest("%v", err)
		}
		if strings.Contains(err.Error(), "designated no other version") {
			return nil, fmt.Errorf("%w: %v", errConflict, err)
		}
		return nil, err
	}
	res := &RollbackResult{Alias: aliasInfo(rec)}
	res.Announced, res.AnnounceError = s.announce(ctx, name, rec)
	return res, nil
}

// announce publishes an alias move when brokers are configured.
func (s *Server) announce(ctx context.Context, name string, rec model.AliasRecord) (bool, string) {
	w := s.cfg.Writes
	if w == nil || len(w.Announce.Brokers) == 0 {
		return false, ""
	}
	a, err := model.NewAnnouncement(ctx, s.cfg.Store, s.cfg.Lake, name, rec)
	if err == nil {
		err = model.Announce(ctx, w.Announce, a)
	}
	if err != nil {
		s.cfg.Logger.Warn("console: announcement failed", "model", name, "alias", rec.Alias, "version", rec.Version, "err", err)
		return false, err.Error()
	}
	return true, ""
}

// writeFail answers a failed write with its status.
func (s *Server) writeFail(w http.ResponseWriter, r *http.Request, err error) {
	msg := err.Error()
	for _, sentinel := range []error{errBadRequest, errConflict, errNotFound} {
		msg = strings.TrimPrefix(msg, sentinel.Error()+": ")
	}
	switch {
	case errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, msg)
	case errors.Is(err, errConflict):
		writeError(w, http.StatusConflict, msg)
	default:
		s.fail(w, r, err)
	}
}

// maxWriteBody bounds the body of a write request.
const maxWriteBody = 64 << 10

func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxWriteBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return badRequest("body: %v (want a JSON object; see /api/openapi.yaml)", err)
	}
	return nil
}

func (s *Server) apiPromote(w http.ResponseWriter, r *http.Request) {
	var req PromoteRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeFail(w, r, err)
		return
	}
	res, err := s.promote(r.Context(), r.PathValue("name"), req)
	if err != nil {
		s.writeFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) apiRollback(w http.ResponseWriter, r *http.Request) {
	var req RollbackRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, &req); err != nil {
			s.writeFail(w, r, err)
			return
		}
	}
	res, err := s.rollback(r.Context(), r.PathValue("name"), r.PathValue("alias"), req.To)
	if err != nil {
		s.writeFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// readOnly answers the write routes of a read-only console.
func readOnly(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusForbidden, "this console is read-only: start it with --allow-writes to promote and roll back")
}

// The forms of the model page post here and are redirected back to it
// with the outcome.

func (s *Server) formPromote(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	r.Body = http.MaxBytesReader(w, r.Body, maxWriteBody)
	req := PromoteRequest{Data: r.PostFormValue("data"), DT: r.PostFormValue("dt"), Where: r.PostFormValue("where")}
	var err error
	if req.Version, err = strconv.Atoi(r.PostFormValue("version")); err != nil {
		err = badRequest("version %q is not a number", r.PostFormValue("version"))
	}
	for _, f := range []struct {
		field string
		dst   **float64
	}{{"min_auc", &req.MinAUC}, {"max_drop", &req.MaxDrop}} {
		if v := r.PostFormValue(f.field); v != "" && err == nil {
			x, perr := strconv.ParseFloat(v, 64)
			if perr != nil {
				err = badRequest("%s %q is not a number", f.field, v)
			}
			*f.dst = &x
		}
	}
	var msg string
	var res *PromoteResult
	if err == nil {
		res, err = s.promote(r.Context(), name, req)
	}
	switch {
	case err != nil:
		msg = "Not promoted: " + strings.TrimPrefix(strings.TrimPrefix(err.Error(), errBadRequest.Error()+": "), errConflict.Error()+": ")
	case res.Promoted:
		msg = fmt.Sprintf("Version %d is the champion: %s", req.Version, res.Decision.Reason)
	default:
		msg = fmt.Sprintf("The gate refused version %d: %s", req.Version, res.Decision.Reason)
	}
	if res != nil && res.AnnounceError != "" {
		msg += " (announcement failed: " + res.AnnounceError + ")"
	}
	http.Redirect(w, r, "/models/"+url.PathEscape(name)+"?msg="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (s *Server) formRollback(w http.ResponseWriter, r *http.Request) {
	name, alias := r.PathValue("name"), r.PathValue("alias")
	var msg string
	res, err := s.rollback(r.Context(), name, alias, 0)
	if err != nil {
		msg = "Not rolled back: " + strings.TrimPrefix(strings.TrimPrefix(err.Error(), errBadRequest.Error()+": "), errConflict.Error()+": ")
	} else {
		msg = fmt.Sprintf("%s is back on version %d", alias, res.Alias.Version)
		if res.AnnounceError != "" {
			msg += " (announcement failed: " + res.AnnounceError + ")"
		}
	}
	http.Redirect(w, r, "/models/"+url.PathEscape(name)+"?msg="+url.QueryEscape(msg), http.StatusSeeOther)
}
