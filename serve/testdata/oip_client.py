"""A second-language client of the predictor: Python grpcio with stubs
generated at run time from api/inference/grpc_predict_v2.proto.

Usage: oip_client.py PROTO_DIR ADDRESS MODEL REQUEST_JSON

REQUEST_JSON holds {"columns": [{"name", "datatype", "values"}...]}. The
script calls every RPC of the service, sends the batch once with typed
contents and once as raw little-endian contents, and prints one JSON object
with what it got back.
"""
import json
import os
import struct
import sys
import tempfile

import grpc
from grpc_tools import protoc


def load_stubs(proto_dir):
    out = tempfile.mkdtemp()
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}",
                      os.path.join(proto_dir, "grpc_predict_v2.proto")])
    if rc != 0:
        raise SystemExit(f"protoc failed with {rc}")
    sys.path.insert(0, out)
    import grpc_predict_v2_pb2 as pb
    import grpc_predict_v2_pb2_grpc as pbg
    return pb, pbg


RAW = {"INT64": "<q", "INT32": "<i", "FP32": "<f", "FP64": "<d", "BOOL": "<?"}
TYPED = {"INT64": "int64_contents", "INT32": "int_contents", "FP32": "fp32_contents",
         "FP64": "fp64_contents", "BOOL": "bool_contents", "BYTES": "bytes_contents"}


def request(pb, model, columns, raw):
    req = pb.ModelInferRequest(model_name=model, id="py-client")
    for col in columns:
        t = req.inputs.add(name=col["name"], datatype=col["datatype"], shape=[len(col["values"])])
        values = col["values"]
        if col["datatype"] == "BYTES":
            values = [v.encode() for v in values]
        if raw:
            if col["datatype"] == "BYTES":
                req.raw_input_contents.append(b"".join(struct.pack("<I", len(v)) + v for v in values))
            else:
                req.raw_input_contents.append(b"".join(struct.pack(RAW[col["datatype"]], v) for v in values))
        else:
            getattr(t.contents, TYPED[col["datatype"]]).extend(values)
    return req


def scores(resp):
    raw = resp.raw_output_contents[0]
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))


def main(proto_dir, address, model, request_json):
    pb, pbg = load_stubs(proto_dir)
    with open(request_json) as f:
        columns = json.load(f)["columns"]
    with grpc.insecure_channel(address) as ch:
        stub = pbg.GRPCInferenceServiceStub(ch)
        out = {
            "live": stub.ServerLive(pb.ServerLiveRequest()).live,
            "ready": stub.ServerReady(pb.ServerReadyRequest()).ready,
            "model_ready": stub.ModelReady(pb.ModelReadyRequest(name=model)).ready,
            "server_name": stub.ServerMetadata(pb.ServerMetadataRequest()).name,
        }
        md = stub.ModelMetadata(pb.ModelMetadataRequest(name=model))
        out["inputs"] = [{"name": t.name, "datatype": t.datatype} for t in md.inputs]
        out["versions"] = list(md.versions)
        typed = stub.ModelInfer(request(pb, model, columns, raw=False))
        raw = stub.ModelInfer(request(pb, model, columns, raw=True))
        out["version"] = typed.model_version
        # Scores come back as Triton sends them, in raw_output_contents.
        out["scores"] = scores(typed)
        out["raw_scores"] = scores(raw)
        try:
            stub.ModelInfer(pb.ModelInferRequest(model_name="no-such-model"))
            out["unknown_model_code"] = "OK"
        except grpc.RpcError as err:
            out["unknown_model_code"] = err.code().name
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
