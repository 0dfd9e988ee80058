#!/usr/bin/env python3
"""Peer GPU timings for facekit's engine benchmark: the same ONNX network (default
models/faceplugin/fr_feature.onnx, MobileFaceNet 112x112 -> 512) on

  * ONNX Runtime, CUDA execution provider (onnxruntime-gpu), fp32;
  * PyTorch (CUDA, cuDNN benchmark mode, channels_last), fp32 and fp16 autocast: the network is
    rebuilt from the ONNX file with onnx2torch when installed, else with the small interpreter
    below (needs the `onnx` package to read the weights; it supports the ops MobileFaceNet-style
    recognizers use and reports any other op instead of guessing).

at batch 1..512 with random NCHW inputs, printing one JSON document (stdout, and --out FILE):
ms per batch (median), ms per input, inputs/s. Runs offline; a missing package or GPU gives an
"error" entry for that peer, never a crash. Usage:

  python3 scripts/gpu/peer_bench.py [--model PATH] [--batches 1,8,64,512] [--seconds 0.5] [--out F]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback

DEFAULT_BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


def time_fn(fn, sync, seconds, min_iters=5, max_iters=200):
    for _ in range(3):  # warm-up (algorithm selection, lazy loading)
        fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or (time.perf_counter() - start < seconds and len(times) < max_iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), len(times)


def row(batch, ms, iters, extra=None):
    r = {"batch": batch, "ms_per_batch": round(ms, 4), "ms_per_input": round(ms / batch, 5),
         "inputs_per_s": round(batch * 1e3 / ms, 1), "iterations": iters}
    if extra:
        r.update(extra)
    return r


def bench_onnxruntime(model_path, batches, seconds):
    import numpy as np
    import onnxruntime as ort
    out = {"peer": "onnxruntime", "version": ort.__version__, "provider": "CUDAExecutionProvider",
           "precision": "fp32", "results": []}
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        out["error"] = "CUDAExecutionProvider not available (providers: %s)" % ort.get_available_providers()
        return out
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model_path, so, providers=[
        ("CUDAExecutionProvider", {"device_id": 0, "cudnn_conv_algo_search": "EXHAUSTIVE"}),
        "CPUExecutionProvider"])
    out["session_providers"] = sess.get_providers()
    if sess.get_providers()[0] != "CUDAExecutionProvider":
        out["error"] = "session fell back to %s" % sess.get_providers()
        return out
    inp = sess.get_inputs()[0]
    dims = [d if isinstance(d, int) else -1 for d in inp.shape]
    out["input"] = {"name": inp.name, "shape": inp.shape if isinstance(inp.shape, list) else str(inp.shape)}
    rng = np.random.default_rng(1)
    for b in batches:
        if dims[0] not in (-1, b):
            out["results"].append({"batch": b, "error": "model has a fixed batch of %d" % dims[0]})
            continue
        x = rng.random([b] + [d if d > 0 else 112 for d in dims[1:]], dtype=np.float32)
        # Host numpy in, host numpy out per run, like facekit's Model::Run.
        try:
            ms, n = time_fn(lambda: sess.run(None, {inp.name: x}), lambda: None, seconds)
            out["results"].append(row(b, ms, n))
        except Exception as e:  # out of memory at large batch, ...
            out["results"].append({"batch": b, "error": str(e).splitlines()[0][:300]})
    return out


# ---- PyTorch: the ONNX graph rebuilt with torch ops --------------------------------------------

def build_torch_module(model_path):
    import torch
    try:
        from onnx2torch import convert  # noqa: F401
        return convert(model_path), "onnx2torch"
    except ImportError:
        pass
    import onnx
    from onnx import numpy_helper
    import torch.nn.functional as F

    m = onnx.load(model_path)
    g = m.graph
    init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in g.initializer}
    supported = {"Conv", "BatchNormalization", "PRelu", "Relu", "Add", "Mul", "Sub", "Flatten", "Gemm",
                 "MatMul", "Reshape", "Sigmoid", "GlobalAveragePool", "Identity", "Constant", "Dropout",
                 "Transpose", "MaxPool", "AveragePool", "Clip", "Concat", "Shape", "Gather", "Unsqueeze",
                 "ReduceMean", "Div", "Sqrt", "Pow", "ReduceSum", "LeakyRelu", "Tanh", "Softmax"}
    missing = sorted({n.op_type for n in g.node} - supported)
    if missing:
        raise RuntimeError("no onnx2torch and the built-in interpreter lacks ops: " + ", ".join(missing))

    def attrs(n):
        return {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.params = torch.nn.ParameterDict()
            self.key = {}
            for i, (k, v) in enumerate(init.items()):
                self.key[k] = "p%d" % i
                self.params[self.key[k]] = torch.nn.Parameter(v, requires_grad=False)

        def forward(self, x):
            env = {g.input[0].name: x}
            for k, kk in self.key.items():
                env[k] = self.params[kk]

            def val(name):
                return env[name] if name else None
            for n in g.node:
                a = attrs(n)
                i = [val(s) for s in n.input]
                op = n.op_type
                if op == "Conv":
                    pads = a.get("pads", [0, 0, 0, 0])
                    y = i[0]
                    if pads[0] != pads[2] or pads[1] != pads[3]:
                        y = F.pad(y, (pads[1], pads[3], pads[0], pads[2]))
                        pads = [0, 0, 0, 0]
                    r = F.conv2d(y, i[1], i[2] if len(i) > 2 else None, a.get("strides", [1, 1]),
                                 (pads[0], pads[1]), a.get("dilations", [1, 1]), a.get("group", 1))
                elif op == "BatchNormalization":
                    r = F.batch_norm(i[0], i[3], i[4], i[1], i[2], False, 0.0, a.get("epsilon", 1e-5))
                elif op == "PRelu":
                    w = i[1]
                    r = torch.where(i[0] >= 0, i[0], i[0] * (w.reshape(1, -1, 1, 1) if w.numel() > 1 and i[0].dim() == 4 and w.dim() == 1 else w))
                elif op == "Relu":
                    r = F.relu(i[0])
                elif op == "LeakyRelu":
                    r = F.leaky_relu(i[0], a.get("alpha", 0.01))
                elif op == "Sigmoid":
                    r = torch.sigmoid(i[0])
                elif op == "Tanh":
                    r = torch.tanh(i[0])
                elif op == "Add":
                    r = i[0] + i[1]
                elif op == "Sub":
                    r = i[0] - i[1]
                elif op == "Mul":
                    r = i[0] * i[1]
                elif op == "Div":
                    r = i[0] / i[1]
                elif op == "Pow":
                    r = torch.pow(i[0], i[1])
                elif op == "Sqrt":
                    r = torch.sqrt(i[0])
                elif op == "Flatten":
                    r = torch.flatten(i[0], a.get("axis", 1))
                elif op == "Gemm":
                    b = i[1].t() if a.get("transB", 0) else i[1]
                    aa = i[0].t() if a.get("transA", 0) else i[0]
                    r = a.get("alpha", 1.0) * (aa @ b)
                    if len(i) > 2 and i[2] is not None:
                        r = r + a.get("beta", 1.0) * i[2]
                elif op == "MatMul":
                    r = i[0] @ i[1]
                elif op == "Reshape":
                    shape = [int(s) for s in i[1].tolist()]
                    shape = [i[0].shape[k] if s == 0 else s for k, s in enumerate(shape)]
                    r = i[0].reshape(shape)
                elif op == "Transpose":
                    r = i[0].permute(*a["perm"])
                elif op == "GlobalAveragePool":
                    r = i[0].mean(dim=(2, 3), keepdim=True)
                elif op == "ReduceMean":
                    r = i[0].mean(dim=tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))
                elif op == "ReduceSum":
                    axes = a.get("axes") or [int(s) for s in i[1].tolist()]
                    r = i[0].sum(dim=tuple(axes), keepdim=bool(a.get("keepdims", 1)))
                elif op == "MaxPool":
                    p = a.get("pads", [0, 0, 0, 0])
                    r = F.max_pool2d(i[0], a["kernel_shape"], a.get("strides", 1), (p[0], p[1]))
                elif op == "AveragePool":
                    p = a.get("pads", [0, 0, 0, 0])
                    r = F.avg_pool2d(i[0], a["kernel_shape"], a.get("strides", 1), (p[0], p[1]),
                                     count_include_pad=bool(a.get("count_include_pad", 0)))
                elif op == "Clip":
                    lo = i[1] if len(i) > 1 and i[1] is not None else a.get("min")
                    hi = i[2] if len(i) > 2 and i[2] is not None else a.get("max")
                    r = torch.clamp(i[0], min=None if lo is None else float(lo), max=None if hi is None else float(hi))
                elif op == "Softmax":
                    r = torch.softmax(i[0], dim=a.get("axis", -1))
                elif op == "Concat":
                    r = torch.cat(i, dim=a["axis"])
                elif op == "Shape":
                    r = torch.tensor(list(i[0].shape), dtype=torch.int64)
                elif op == "Gather":
                    r = torch.index_select(i[0], a.get("axis", 0), i[1].reshape(-1).long()).reshape(
                        list(i[0].shape[:a.get("axis", 0)]) + list(i[1].shape) + list(i[0].shape[a.get("axis", 0) + 1:]))
                elif op == "Unsqueeze":
                    axes = a.get("axes") or [int(s) for s in i[1].tolist()]
                    r = i[0]
                    for ax in sorted(axes):
                        r = r.unsqueeze(ax)
                elif op == "Constant":
                    r = torch.from_numpy(numpy_helper.to_array(a["value"]).copy()).to(x.device)
                elif op in ("Identity", "Dropout"):
                    r = i[0]
                else:
                    raise RuntimeError("unsupported op " + op)
                env[n.output[0]] = r
            return env[g.output[0].name]

    return Net(), "built-in ONNX interpreter (onnx %s)" % onnx.__version__


def bench_torch(model_path, batches, seconds, c, h, w, ref_session=None):
    import numpy as np
    import torch
    out = {"peer": "pytorch", "version": torch.__version__, "results": []}
    if not torch.cuda.is_available():
        out["error"] = "torch.cuda.is_available() is False"
        return out
    torch.backends.cudnn.benchmark = True
    net, how = build_torch_module(model_path)
    out["network"] = how
    out["cudnn"] = torch.backends.cudnn.version()
    dev = torch.device("cuda:0")
    net = net.to(dev).eval().to(memory_format=torch.channels_last)
    # Correctness against ONNX Runtime (CPU) before timing anything; batch 1 (fr_feature.onnx
    # declares a fixed batch of 1, which ONNX Runtime enforces).
    if ref_session is not None:
        x = np.random.default_rng(3).random((1, c, h, w), dtype=np.float32)
        want = ref_session.run(None, {ref_session.get_inputs()[0].name: x})[0]
        with torch.no_grad():
            have = net(torch.from_numpy(x).to(dev).contiguous(memory_format=torch.channels_last)).float().cpu().numpy()
        cos = float((want * have).sum() / (np.linalg.norm(want) * np.linalg.norm(have) + 1e-30))
        out["cosine_vs_onnxruntime_cpu"] = cos
    for precision in ("fp32", "fp16"):
        for b in batches:
            try:
                torch.cuda.reset_peak_memory_stats()
                x_host = torch.rand(b, c, h, w).pin_memory()

                def run():
                    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16, enabled=precision == "fp16"):
                        x = x_host.to(dev, non_blocking=True).contiguous(memory_format=torch.channels_last)
                        return net(x).float().cpu()  # host in, host out, like facekit's Run
                ms, n = time_fn(run, torch.cuda.synchronize, seconds)
                out["results"].append(row(b, ms, n, {"precision": precision,
                                                     "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1)}))
            except Exception as e:
                out["results"].append({"batch": b, "precision": precision, "error": str(e).splitlines()[0][:300]})
                torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/faceplugin/fr_feature.onnx")
    ap.add_argument("--batches", default=",".join(map(str, DEFAULT_BATCHES)))
    ap.add_argument("--seconds", type=float, default=0.5, help="timing budget per (peer, batch)")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",") if b]
    doc = {"model": args.model, "python": platform.python_version(), "host": platform.node(),
           "batches": batches, "peers": []}
    if not os.path.exists(args.model):
        doc["error"] = "model not found: " + args.model
    else:
        ref = None
        c, h, w = 3, 112, 112
        try:
            import onnxruntime as ort
            ref = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
            dims = [d if isinstance(d, int) else -1 for d in ref.get_inputs()[0].shape]
            if len(dims) == 4:
                c, h, w = [d if d > 0 else dflt for d, dflt in zip(dims[1:], (3, 112, 112))]
        except Exception as e:
            doc["onnxruntime_cpu_error"] = str(e)[:300]
        for name, fn in (("onnxruntime", lambda: bench_onnxruntime(args.model, batches, args.seconds)),
                         ("pytorch", lambda: bench_torch(args.model, batches, args.seconds, c, h, w, ref))):
            try:
                doc["peers"].append(fn())
            except Exception as e:
                doc["peers"].append({"peer": name, "error": "%s: %s" % (type(e).__name__, str(e)[:400]),
                                     "traceback": traceback.format_exc()[-1500:]})
            print("peer_bench: %s done" % name, file=sys.stderr)
    text = json.dumps(doc, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
