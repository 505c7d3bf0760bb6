package serve

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/inference"
)

// HTTPHandler returns the Open Inference Protocol v2 over HTTP/JSON
// (KServe's REST protocol) for the same service: the same models, token,
// limits, in-flight budget and metrics as gRPC.
//
//	GET  /v2/health/live, /v2/health/ready      (open to probes, no token)
//	GET  /v2                                    server metadata
//	GET  /v2/models/{name}[/versions/{v}]       model metadata
//	GET  /v2/models/{name}[/versions/{v}]/ready
//	POST /v2/models/{name}[/versions/{v}]/infer
//
// Infer takes JSON tensors ("data" flat or nested, row-major) and the
// binary tensor data extension (Inference-Header-Content-Length, with
// "binary_data_size" on each binary input); outputs are JSON
// unless binary output is requested ("binary_data" on the output or
// "binary_data_output" on the request). The token is checked and the
// in-flight slot taken before the body is read; errors are {"error": ...}
// with the HTTP status of the gRPC code.
func (s *Service) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusOK
		if !s.engine.Ready() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]bool{"ready": code == http.StatusOK})
	})
	mux.Handle("GET /v2", s.guarded(s.restServerMetadata))
	for _, prefix := range []string{"/v2/models/{name}", "/v2/models/{name}/versions/{version}"} {
		mux.Handle("GET "+prefix, s.guarded(s.restModelMetadata))
		mux.Handle("GET "+prefix+"/ready", s.guarded(s.restModelReady))
		mux.Handle("POST "+prefix+"/infer", s.guarded(s.restInfer))
	}
	return mux
}

// guarded checks the token and takes an in-flight slot before h reads the
// body, which it bounds by MaxRequestBytes.
func (s *Service) guarded(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.guard.Authorized(r.Header.Values("Authorization")) {
			writeError(w, status.Error(codes.Unauthenticated, "missing or wrong token: send the header \"Authorization: Bearer <token>\""))
			return
		}
		release, err := s.guard.Acquire()
		if err != nil {
			writeError(w, err)
			return
		}
		defer release()
		r.Body = http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxRequestBytes))
		if err := h(w, r); err != nil {
			writeError(w, err)
		}
	})
}

func (s *Service) restServerMetadata(w http.ResponseWriter, r *http.Request) error {
	md, _ := s.ServerMetadata(r.Context(), &pb.ServerMetadataRequest{})
	writeJSON(w, http.StatusOK, map[string]any{"name": md.Name, "version": md.Version, "extensions": []string{"binary_tensor_data"}})
	return nil
}

type restTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (s *Service) restModelMetadata(w http.ResponseWriter, r *http.Request) error {
	md, err := s.ModelMetadata(r.Context(), &pb.ModelMetadataRequest{Name: r.PathValue("name"), Version: r.PathValue("version")})
	if err != nil {
		return err
	}
	meta := func(ts []*pb.ModelMetadataResponse_TensorMetadata) []restTensorMeta {
		out := make([]restTensorMeta, len(ts))
		for i, t := range ts {
			out[i] = restTensorMeta{t.Name, t.Datatype, t.Shape}
		}
		return out
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": md.Name, "versions": md.Versions, "platform": md.Platform, "inputs": meta(md.Inputs), "outputs": meta(md.Outputs)})
	return nil
}

func (s *Service) restModelReady(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	rd, err := s.ModelReady(r.Context(), &pb.ModelReadyRequest{Name: name, Version: r.PathValue("version")})
	if err != nil {
		return err
	}
	code := http.StatusOK
	if !rd.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"name": name, "ready": rd.Ready})
	return nil
}

// restInput is one input tensor of a JSON infer request.
type restInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters"`
	Data       json.RawMessage `json:"data"`
}

type restOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters"`
}

func (s *Service) restInfer(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	cols, err := s.inputColumns(name)
	if err != nil {
		return err
	}

	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return status.Errorf(codes.ResourceExhausted, "request body exceeds %d bytes", tooBig.Limit)
		}
		return status.Errorf(codes.InvalidArgument, "read request body: %v", err)
	}
	header, binaryPart := body, []byte(nil)
	if h := r.Header.Get("Inference-Header-Content-Length"); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > len(body) {
			return status.Errorf(codes.InvalidArgument, "Inference-Header-Content-Length %q: want the JSON header's length, at most the body's %d bytes", h, len(body))
		}
		header, binaryPart = body[:n], body[n:]
	}
	req, binaryOut, err := decodeRESTInfer(header, binaryPart, name, r.PathValue("version"), restBounds{inputs: cols, elems: s.cfg.MaxBatch})
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	resp, err := s.ModelInfer(r.Context(), req)
	if err != nil {
		return err
	}
	js := map[string]any{"model_name": resp.ModelName, "model_version": resp.ModelVersion,
		"parameters": restParameters(resp.Parameters)}
	if resp.Id != "" {
		js["id"] = resp.Id
	}
	outs := make([]any, len(resp.Outputs))
	size := 0
	for i, o := range resp.Outputs {
		out := map[string]any{"name": o.Name, "datatype": o.Datatype, "shape": o.Shape}
		raw := resp.RawOutputContents[i]
		if binaryOut {
			out["parameters"] = map[string]int{"binary_data_size": len(raw)}
			size += len(raw)
		} else if out["data"], err = rawToJSON(o.Datatype, raw); err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		outs[i] = out
	}
	js["outputs"] = outs
	if !binaryOut {
		writeJSON(w, http.StatusOK, js)
		return nil
	}
	hdr, err := json.Marshal(js)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Inference-Header-Content-Length", strconv.Itoa(len(hdr)))
	w.Header().Set("Content-Length", strconv.Itoa(len(hdr)+size))
	w.WriteHeader(http.StatusOK)
	w.Write(hdr)
	for _, raw := range resp.RawOutputContents {
		w.Write(raw)
	}
	return nil
}

// restParameters are the response parameters as JSON values.
func restParameters(ps map[string]*pb.InferParameter) map[string]any {
	out := make(map[string]any, len(ps))
	for k, p := range ps {
		switch v := p.ParameterChoice.(type) {
		case *pb.InferParameter_StringParam:
			out[k] = v.StringParam
		case *pb.InferParameter_BoolParam:
			out[k] = v.BoolParam
		case *pb.InferParameter_Int64Param:
			out[k] = v.Int64Param
		}
	}
	return out
}

// rawToJSON decodes the raw little-endian contents of an output this
// service writes (FP64, INT64 or BYTES) into a JSON array.
func rawToJSON(datatype string, raw []byte) (any, error) {
	switch datatype {
	case "FP64":
		out := make([]float64, len(raw)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	case "INT64":
		out := make([]int64, len(raw)/8)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
		return out, nil
	case "BYTES":
		out := []string{}
		for len(raw) >= 4 {
			l := binary.LittleEndian.Uint32(raw)
			if uint64(l) > uint64(len(raw)-4) {
				break
			}
			out = append(out, string(raw[4:4+l]))
			raw = raw[4+l:]
		}
		if len(raw) != 0 {
			return nil, errors.New("BYTES output does not decode")
		}
		return out, nil
	}
	return nil, fmt.Errorf("output datatype %s has no JSON form here", datatype)
}

type restBounds = inferBounds

// decodeRESTInfer turns a JSON infer request (and its binary part) into the
// gRPC request. The inputs array is read one tensor at a time, so the count
// is refused before more tensors are allocated, and each tensor's values
// are counted before they are converted.
func decodeRESTInfer(header, binaryPart []byte, name, version string, bd restBounds) (*pb.ModelInferRequest, bool, error) {
	req := &pb.ModelInferRequest{ModelName: name, ModelVersion: version}
	binaryOut := false
	dec := json.NewDecoder(bytes.NewReader(header))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false, errors.New("the request body is not a JSON object")
	}
	var raws [][]byte
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("request JSON: %w", err)
		}
		switch key, _ := t.(string); key {
		case "id":
			if err := dec.Decode(&req.Id); err != nil {
				return nil, false, fmt.Errorf("request JSON: id: %w", err)
			}
		case "parameters":
			var p map[string]any
			if err := dec.Decode(&p); err != nil {
				return nil, false, fmt.Errorf("request JSON: parameters: %w", err)
			}
			if b, ok := p["binary_data_output"].(bool); ok {
				binaryOut = b
			}
		case "outputs":
			var outs []restOutput
			if err := dec.Decode(&outs); err != nil || len(outs) > maxOutputs {
				return nil, false, fmt.Errorf("request JSON: outputs: want at most %d {\"name\"} objects (%v)", maxOutputs, err)
			}
			for _, o := range outs {
				req.Outputs = append(req.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o.Name})
				if b, ok := o.Parameters["binary_data"].(bool); ok {
					binaryOut = b
				}
			}
		case "inputs":
			if t, err := dec.Token(); err != nil || t != json.Delim('[') {
				return nil, false, errors.New("request JSON: inputs is not an array")
			}
			for dec.More() {
				if len(req.Inputs) == bd.inputs {
					return nil, false, fmt.Errorf("more than %d input tensors; the model reads %d columns", bd.inputs, bd.inputs)
				}
				var in restInput
				if err := dec.Decode(&in); err != nil {
					return nil, false, fmt.Errorf("request JSON: inputs[%d]: %w", len(req.Inputs), err)
				}
				t := &pb.ModelInferRequest_InferInputTensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape}
				if size, ok := in.Parameters["binary_data_size"].(float64); ok {
					if size < 0 || size > float64(len(binaryPart)) {
						return nil, false, fmt.Errorf("input %q: binary_data_size %v, but %d binary bytes remain", in.Name, size, len(binaryPart))
					}
					raws = append(raws, binaryPart[:int(size)])
					binaryPart = binaryPart[int(size):]
				} else {
					c, err := jsonContents(in.Datatype, in.Data, bd.elems)
					if err != nil {
						return nil, false, fmt.Errorf("input %q: %w", in.Name, err)
					}
					t.Contents = c
					raws = append(raws, nil)
				}
				req.Inputs = append(req.Inputs, t)
			}
			if _, err := dec.Token(); err != nil {
				return nil, false, fmt.Errorf("request JSON: inputs: %w", err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, false, fmt.Errorf("request JSON: %w", err)
			}
		}
	}
	binaryIn := false
	for _, r := range raws {
		binaryIn = binaryIn || r != nil
	}
	if binaryIn {
		// Binary inputs go as raw contents; the protocol has one form
		// per request, so JSON inputs alongside them are refused.
		for i, r := range raws {
			if r == nil {
				return nil, false, fmt.Errorf("input %q is JSON while others are binary: send all inputs one way", req.Inputs[i].Name)
			}
		}
		req.RawInputContents = raws
	}
	return req, binaryOut, nil
}

// jsonContents converts a JSON tensor (flat or nested arrays, row-major)
// into typed contents, counting values before converting them.
func jsonContents(datatype string, data json.RawMessage, maxElems int) (*pb.InferTensorContents, error) {
	var flat []json.RawMessage
	if err := flatten(data, &flat, maxElems, 0); err != nil {
		return nil, err
	}
	c := &pb.InferTensorContents{}
	for i, v := range flat {
		var err error
		switch datatype {
		case "BOOL":
			var b bool
			err = json.Unmarshal(v, &b)
			c.BoolContents = append(c.BoolContents, b)
		case "INT8", "INT16", "INT32":
			var n int32
			err = json.Unmarshal(v, &n)
			c.IntContents = append(c.IntContents, n)
		case "INT64":
			var n int64
			err = json.Unmarshal(v, &n)
			c.Int64Contents = append(c.Int64Contents, n)
		case "UINT8", "UINT16", "UINT32":
			var n uint32
			err = json.Unmarshal(v, &n)
			c.UintContents = append(c.UintContents, n)
		case "UINT64":
			var n uint64
			err = json.Unmarshal(v, &n)
			c.Uint64Contents = append(c.Uint64Contents, n)
		case "FP32":
			var f float32
			err = json.Unmarshal(v, &f)
			c.Fp32Contents = append(c.Fp32Contents, f)
		case "FP64":
			var f float64
			err = json.Unmarshal(v, &f)
			c.Fp64Contents = append(c.Fp64Contents, f)
		case "BYTES":
			var s string
			err = json.Unmarshal(v, &s)
			c.BytesContents = append(c.BytesContents, []byte(s))
		default:
			return nil, fmt.Errorf("datatype %q is not supported (use BOOL, INT8..INT64, UINT8..UINT64, FP32, FP64 or BYTES)", datatype)
		}
		if err != nil {
			return nil, fmt.Errorf("value %d (%s) is not %s", i, truncate(v), datatype)
		}
	}
	return c, nil
}

// flatten appends the scalars of a JSON value, nested arrays row-major,
// refusing more than maxElems and nesting deeper than a tensor's.
func flatten(v json.RawMessage, dst *[]json.RawMessage, maxElems, depth int) error {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '[' {
		if len(*dst) == maxElems {
			return fmt.Errorf("more than %d values, the batch limit of %d rows", maxElems, maxElems)
		}
		*dst = append(*dst, v)
		return nil
	}
	if depth == maxShape {
		return fmt.Errorf("data nested deeper than %d levels", maxShape)
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.Token() // '['
	for dec.More() {
		var e json.RawMessage
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		if err := flatten(e, dst, maxElems, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "…"
	}
	return string(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with {"error": message} and the HTTP status of the
// error's gRPC code.
func writeError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code := http.StatusInternalServerError
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		code = http.StatusBadRequest
	case codes.Unauthenticated:
		code = http.StatusUnauthorized
	case codes.PermissionDenied:
		code = http.StatusForbidden
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.ResourceExhausted:
		code = http.StatusTooManyRequests
	case codes.Unavailable:
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"error": st.Message()})
}
