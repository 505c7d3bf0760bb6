package serve

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/apache/arrow/go/v17/arrow"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/lakestream/lakestream/api/inference"
	"github.com/lakestream/lakestream/model"
)

// TopNSuffix makes the name of a served recommendation model's top-N
// variant: model "rec" answers a user's top-N items as "rec:topn". ':' is
// not allowed in model names, so the variant cannot collide with a model.
const TopNSuffix = ":topn"

// Top-N request and response tensors. The user input is named after the
// model's user column.
const (
	topNCount     = "n"
	topNItems     = "item_ids"
	topNScores    = "scores"
	defaultTopN   = 10
	topNKnownUser = "lakestream.known_user"
)

// Recommender is implemented by served models that answer top-N requests:
// mf models whose version carries a catalogue (model.Model.SetCatalogue).
type Recommender interface {
	// TopNSchema returns the user input (its column and type) and the type
	// of the item ids, and false when the version cannot answer top-N
	// requests.
	TopNSchema() (user arrow.Field, item arrow.DataType, ok bool)
	// TopN is model.Model.TopN: user is the user's value as text.
	TopN(user string, n int, dst *model.Recommendation) error
	// ItemIDs returns the catalogue's item ids by index: strs for a string
	// item column, ints for an integer one (the other is nil). The caller
	// must not modify them.
	ItemIDs() (strs []string, ints []int64)
}

// topNIndex is the serving side of a registry model's catalogue: the item
// ids as the response carries them.
type topNIndex struct {
	user  arrow.Field
	item  arrow.DataType
	ints  []int64 // integer item column: the ids
	bytes bool
	cat   *model.Catalogue
}

// newTopNIndex returns the index of m's catalogue, or nil when m has none.
func newTopNIndex(m *model.Model, schema *arrow.Schema) (*topNIndex, error) {
	cat := m.Catalogue()
	if cat == nil {
		return nil, nil
	}
	field := func(col string) (arrow.Field, error) {
		i := schema.FieldIndices(col)
		if len(i) != 1 {
			return arrow.Field{}, fmt.Errorf("top-N: column %s is not an input of the model", col)
		}
		return schema.Field(i[0]), nil
	}
	user, err := field(m.UserColumn())
	if err != nil {
		return nil, err
	}
	item, err := field(m.ItemColumn())
	if err != nil {
		return nil, err
	}
	x := &topNIndex{user: user, item: item.Type, cat: cat}
	switch oipType(item.Type) {
	case "BYTES":
		x.bytes = true
	case "INT64", "INT32", "INT16", "INT8", "UINT8", "UINT16", "UINT32", "UINT64":
		x.item = arrow.PrimitiveTypes.Int64
		x.ints = make([]int64, len(cat.Items))
		for i, v := range cat.Items {
			if x.ints[i], err = strconv.ParseInt(v, 10, 64); err != nil {
				return nil, fmt.Errorf("top-N: item %q of integer column %s: %w", v, item.Name, err)
			}
		}
	default:
		return nil, fmt.Errorf("top-N: item column %s is %s; item ids are strings or integers", item.Name, item.Type)
	}
	switch oipType(user.Type) {
	case "BYTES", "INT64", "INT32", "INT16", "INT8", "UINT8", "UINT16", "UINT32", "UINT64":
	default:
		return nil, fmt.Errorf("top-N: user column %s is %s; user ids are strings or integers", user.Name, user.Type)
	}
	return x, nil
}

func (m *registryModel) TopNSchema() (arrow.Field, arrow.DataType, bool) {
	if m.topn == nil {
		return arrow.Field{}, nil, false
	}
	return m.topn.user, m.topn.item, true
}

func (m *registryModel) ItemIDs() ([]string, []int64) {
	if m.topn.bytes {
		return m.topn.cat.Items, nil
	}
	return nil, m.topn.ints
}

// topNName returns the served model a top-N variant name refers to.
func topNName(name string) (base string, ok bool) { return strings.CutSuffix(name, TopNSuffix) }

// recommender returns the version's Recommender, or the error a top-N
// request to it gets.
func recommenderOf(v *version) (Recommender, arrow.Field, arrow.DataType, error) {
	r, ok := v.model.(Recommender)
	if ok {
		if user, item, ok := r.TopNSchema(); ok {
			return r, user, item, nil
		}
	}
	return nil, arrow.Field{}, nil, status.Errorf(codes.FailedPrecondition,
		"model %s version %s answers no top-N requests: it is not an mf model saved with its catalogue (trainer train, trainer ps --output and trainer schedule save one with an mf model; versions of trainer stream have none)", v.name, v.version)
}

// topNMetadata describes the top-N variant of the version.
func topNMetadata(v *version, name string) (*pb.ModelMetadataResponse, error) {
	_, user, item, err := recommenderOf(v)
	if err != nil {
		return nil, err
	}
	return &pb.ModelMetadataResponse{
		Name: name, Versions: []string{v.version}, Platform: "lakestream",
		Inputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: user.Name, Datatype: oipType(user.Type), Shape: []int64{1}},
			{Name: topNCount, Datatype: "INT32", Shape: []int64{1}},
		},
		Outputs: []*pb.ModelMetadataResponse_TensorMetadata{
			{Name: topNItems, Datatype: oipType(item), Shape: []int64{-1}},
			{Name: topNScores, Datatype: "FP64", Shape: []int64{-1}},
		},
	}, nil
}

// recommendations pools the per-request Recommendation scratch.
var recommendations = sync.Pool{New: func() any { return new(model.Recommendation) }}

// topNInfer answers a top-N request to the variant name of the version v.
// Inputs: the user id (shape [1], BYTES or an integer type as the user
// column) and optionally n (INT32 or INT64, shape [1], 1 to
// model.MaxTopN, default 10). Outputs: item_ids (BYTES or INT64) and
// scores (FP64), shape [n'] with n' ≤ n, best first, in
// raw_output_contents; the parameter lakestream.known_user says whether
// the user was in the catalogue.
func (s *Service) topNInfer(req *pb.ModelInferRequest, v *version, name string) (*pb.ModelInferResponse, error) {
	r, user, item, err := recommenderOf(v)
	if err != nil {
		return nil, err
	}
	want := [2]bool{true, true}
	if len(req.Outputs) > 0 {
		want = [2]bool{}
		for _, o := range req.Outputs {
			switch o.Name {
			case topNItems:
				want[0] = true
			case topNScores:
				want[1] = true
			default:
				return nil, status.Errorf(codes.InvalidArgument, "unknown output %q requested: %s has outputs %q and %q", o.Name, name, topNItems, topNScores)
			}
		}
	}
	if len(req.RawInputContents) > 0 && len(req.RawInputContents) != len(req.Inputs) {
		return nil, status.Errorf(codes.InvalidArgument, "raw_input_contents has %d entries for %d inputs; send one per input, in order", len(req.RawInputContents), len(req.Inputs))
	}
	var id []byte
	var idBuf [20]byte
	n, haveUser, haveN := defaultTopN, false, false
	for i, in := range req.Inputs {
		t := tensor{name: in.Name, datatype: in.Datatype, contents: in.Contents}
		if len(req.RawInputContents) > 0 {
			if in.Contents != nil && !isEmptyContents(in.Contents) {
				return nil, status.Errorf(codes.InvalidArgument, "input %q has both contents and raw_input_contents; send one", in.Name)
			}
			t.raw, t.hasRaw = req.RawInputContents[i], true
		}
		if rows, err := rowsOf(in.Name, in.Shape); err != nil || rows != 1 {
			return nil, status.Errorf(codes.InvalidArgument, "input %q has shape %v; %s takes one value, shape [1]", in.Name, in.Shape, name)
		}
		switch in.Name {
		case user.Name:
			if haveUser {
				return nil, status.Errorf(codes.InvalidArgument, "input %q sent twice", in.Name)
			}
			haveUser = true
			if id, err = topNUser(t, user, idBuf[:0]); err != nil {
				return nil, err
			}
		case topNCount:
			if haveN {
				return nil, status.Errorf(codes.InvalidArgument, "input %q sent twice", in.Name)
			}
			haveN = true
			if in.Datatype != "INT32" && in.Datatype != "INT64" {
				return nil, status.Errorf(codes.InvalidArgument, "input %q is %s; send INT32 or INT64", in.Name, in.Datatype)
			}
			var v [1]int64
			if err := t.intsInto(v[:]); err != nil {
				return nil, grpcError(err)
			}
			if v[0] < 1 || v[0] > model.MaxTopN {
				return nil, status.Errorf(codes.InvalidArgument, "input %q is %d: want 1 to %d", in.Name, v[0], model.MaxTopN)
			}
			n = int(v[0])
		default:
			return nil, status.Errorf(codes.InvalidArgument, "unknown input %q: %s takes %q (the user id) and optionally %q", in.Name, name, user.Name, topNCount)
		}
	}
	if !haveUser {
		return nil, status.Errorf(codes.InvalidArgument, "no input %q: send the user id, shape [1], %s", user.Name, oipType(user.Type))
	}
	rec := recommendations.Get().(*model.Recommendation)
	defer recommendations.Put(rec)
	// The id is only read during the call, so it need not be copied.
	if err := r.TopN(unsafe.String(unsafe.SliceData(id), len(id)), n, rec); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	k := len(rec.Items)
	resp := new(topNResponse)
	resp.shape[0] = int64(k)
	outs := 0
	if want[0] {
		strs, ints := r.ItemIDs()
		var raw []byte
		if strs != nil {
			size := 4 * k
			for _, i := range rec.Items {
				size += len(strs[i])
			}
			raw = make([]byte, 0, size)
			for _, i := range rec.Items {
				raw = binary.LittleEndian.AppendUint32(raw, uint32(len(strs[i])))
				raw = append(raw, strs[i]...)
			}
		} else {
			raw = make([]byte, 0, 8*k)
			for _, i := range rec.Items {
				raw = binary.LittleEndian.AppendUint64(raw, uint64(ints[i]))
			}
		}
		resp.out[outs] = pb.ModelInferResponse_InferOutputTensor{Name: topNItems, Datatype: oipType(item), Shape: resp.shape[:]}
		resp.raws[outs] = raw
		outs++
	}
	if want[1] {
		raw := make([]byte, 8*k)
		for j, f := range rec.Scores {
			binary.LittleEndian.PutUint64(raw[8*j:], math.Float64bits(f))
		}
		resp.out[outs] = pb.ModelInferResponse_InferOutputTensor{Name: topNScores, Datatype: "FP64", Shape: resp.shape[:]}
		resp.raws[outs] = raw
		outs++
	}
	for j := range outs {
		resp.outs[j] = &resp.out[j]
	}
	resp.resp.ModelName, resp.resp.ModelVersion, resp.resp.Id = req.ModelName, v.version, req.Id
	resp.resp.Parameters = v.topNParams(rec.KnownUser)
	resp.resp.Outputs, resp.resp.RawOutputContents = resp.outs[:outs], resp.raws[:outs]
	return &resp.resp, nil
}

// topNUser returns the user id of t as the catalogue holds it (text; an
// integer in decimal), in buf when it has to be formatted.
func topNUser(t tensor, user arrow.Field, buf []byte) ([]byte, error) {
	want := oipType(user.Type)
	if want == "BYTES" {
		if t.datatype != "BYTES" {
			return nil, status.Errorf(codes.InvalidArgument, "input %q is %s; the user column %s needs BYTES", t.name, t.datatype, user.Name)
		}
		var id []byte
		if t.hasRaw {
			b := t.raw
			if len(b) < 4 || uint64(binary.LittleEndian.Uint32(b)) != uint64(len(b)-4) {
				return nil, status.Errorf(codes.InvalidArgument, "input %q: raw BYTES contents are not one element with its 4-byte length", t.name)
			}
			id = b[4:]
		} else {
			if t.contents == nil || len(t.contents.BytesContents) != 1 {
				return nil, status.Errorf(codes.InvalidArgument, "input %q: send one BYTES value", t.name)
			}
			id = t.contents.BytesContents[0]
		}
		if len(id) > model.MaxCatalogueValue {
			return nil, status.Errorf(codes.InvalidArgument, "input %q: a user id of %d bytes; ids are at most %d", t.name, len(id), model.MaxCatalogueValue)
		}
		return id, nil
	}
	if !isInteger(t.datatype) {
		return nil, status.Errorf(codes.InvalidArgument, "input %q is %s; the user column %s needs an integer type (%s)", t.name, t.datatype, user.Name, want)
	}
	var v [1]int64
	if err := t.intsInto(v[:]); err != nil {
		return nil, grpcError(err)
	}
	return strconv.AppendInt(buf, v[0], 10), nil
}

// topNResponse is a ModelInferResponse with its two outputs in one
// allocation.
type topNResponse struct {
	resp  pb.ModelInferResponse
	out   [2]pb.ModelInferResponse_InferOutputTensor
	outs  [2]*pb.ModelInferResponse_InferOutputTensor
	raws  [2][]byte
	shape [1]int64
}
