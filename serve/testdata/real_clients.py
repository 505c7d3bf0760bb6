"""Real inference clients against the predictor: tritonclient (gRPC and
HTTP) and the KServe SDK's v2 clients (gRPC and REST), unchanged, as users
run them.

Usage: real_clients.py triton|kserve GRPC_ADDRESS HTTP_ADDRESS MODEL REQUEST_JSON

tritonclient and kserve each register the inference.* protobuf messages in
the default descriptor pool, so they cannot share a process: one run per
family.

REQUEST_JSON holds {"columns": [{"name", "datatype", "values"}...]}. Prints
one JSON object: the "score" output each client read, by client.
"""
import asyncio
import json
import sys

import numpy as np

NP = {"INT64": np.int64, "INT32": np.int32, "FP32": np.float32, "FP64": np.float64, "BOOL": np.bool_}


def arrays(columns):
    out = []
    for col in columns:
        if col["datatype"] == "BYTES":
            a = np.array([v.encode() for v in col["values"]], dtype=np.object_)
        else:
            a = np.array(col["values"], dtype=NP[col["datatype"]])
        out.append((col["name"], col["datatype"], a))
    return out


def triton(module, url, model, columns, binary):
    client = module.InferenceServerClient(url=url)
    assert client.is_server_live() and client.is_model_ready(model)
    inputs = []
    for name, dt, a in arrays(columns):
        i = module.InferInput(name, list(a.shape), dt)
        if module.__name__.endswith("http"):
            i.set_data_from_numpy(a, binary_data=binary)
        else:
            i.set_data_from_numpy(a)
        inputs.append(i)
    if module.__name__.endswith("http"):
        outputs = [module.InferRequestedOutput("score", binary_data=binary)]
    else:
        outputs = [module.InferRequestedOutput("score")]
    result = client.infer(model, inputs, outputs=outputs)
    return result.as_numpy("score").tolist()


def kserve_infer_request(kserve, model, columns):
    inputs = []
    for name, dt, a in arrays(columns):
        t = kserve.InferInput(name=name, shape=list(a.shape), datatype=dt)
        t.set_data_from_numpy(a, binary_data=False)
        inputs.append(t)
    return kserve.InferRequest(model_name=model, infer_inputs=inputs, request_id="kserve-sdk")


async def kserve_clients(grpc_addr, http_addr, model, columns):
    import kserve
    from kserve.inference_client import RESTConfig

    out = {}
    grpc_client = kserve.InferenceGRPCClient(url=grpc_addr)
    resp = await grpc_client.infer(kserve_infer_request(kserve, model, columns))
    out["kserve_grpc"] = resp.outputs[0].as_numpy().tolist()
    await grpc_client.close()

    rest_client = kserve.InferenceRESTClient(config=RESTConfig(protocol="v2"))
    resp = await rest_client.infer(f"http://{http_addr}", kserve_infer_request(kserve, model, columns), model_name=model)
    out["kserve_rest"] = resp.outputs[0].as_numpy().tolist()
    await rest_client.close()
    return out


def main(family, grpc_addr, http_addr, model, request_json):
    with open(request_json) as f:
        columns = json.load(f)["columns"]
    if family == "kserve":
        out = asyncio.run(kserve_clients(grpc_addr, http_addr, model, columns))
    else:
        import tritonclient.grpc as tgrpc
        import tritonclient.http as thttp

        out = {
            "triton_grpc": triton(tgrpc, grpc_addr, model, columns, True),
            "triton_http_binary": triton(thttp, http_addr, model, columns, True),
            "triton_http_json": triton(thttp, http_addr, model, columns, False),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:])
