"""tritonclient, unchanged, asking a recommendation model's top-N variant
for a user's items over gRPC and HTTP (binary and JSON outputs).

Usage: topn_clients.py GRPC_ADDRESS HTTP_ADDRESS MODEL USER N

Prints one JSON object: by client, the item ids (as strings) and scores it
read and the known_user parameter; and the gRPC model metadata.
"""
import json
import sys

import numpy as np


def inputs(module, user, n):
    u = module.InferInput("user", [1], "BYTES")
    u.set_data_from_numpy(np.array([user.encode()], dtype=np.object_))
    k = module.InferInput("n", [1], "INT32")
    k.set_data_from_numpy(np.array([n], dtype=np.int32))
    return [u, k]


def read(result):
    # Binary BYTES come back as bytes, JSON ones as str.
    items = [i.decode() if isinstance(i, bytes) else i for i in result.as_numpy("item_ids").tolist()]
    return items, result.as_numpy("scores").tolist()


def main(grpc_addr, http_addr, model, user, n):
    import tritonclient.grpc as tgrpc
    import tritonclient.http as thttp

    n = int(n)
    out = {}
    c = tgrpc.InferenceServerClient(url=grpc_addr)
    assert c.is_model_ready(model)
    md = c.get_model_metadata(model, as_json=True)
    out["metadata"] = {"inputs": md["inputs"], "outputs": md["outputs"]}
    r = c.infer(model, inputs(tgrpc, user, n), outputs=[tgrpc.InferRequestedOutput("item_ids"), tgrpc.InferRequestedOutput("scores")])
    items, scores = read(r)
    out["triton_grpc"] = {"items": items, "scores": scores,
                          "known_user": r.get_response().parameters["lakestream.known_user"].bool_param}

    h = thttp.InferenceServerClient(url=http_addr)
    for binary in (True, False):
        r = h.infer(model, inputs(thttp, user, n), outputs=[thttp.InferRequestedOutput("item_ids", binary_data=binary),
                                                             thttp.InferRequestedOutput("scores", binary_data=binary)])
        items, scores = read(r)
        out["triton_http_binary" if binary else "triton_http_json"] = {
            "items": items, "scores": scores, "known_user": r.get_response()["parameters"]["lakestream.known_user"]}
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
