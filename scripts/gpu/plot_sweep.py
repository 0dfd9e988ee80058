#!/usr/bin/env python3
"""Batch-size sweep plot (inputs/s vs batch) from facekit bench engine --device cuda JSON files and
scripts/gpu/peer_bench.py JSON (PyTorch / ONNX Runtime rows), one line per (source, model).

  python3 scripts/gpu/plot_sweep.py --out docs/benchmarks/engine-gpu-sweep.png \
      LABEL=engine-gpu.json ... [--peers peers.json] [--models mobileface,fr_feature]
Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import json

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="LABEL=path/to/engine-gpu.json")
    ap.add_argument("--peers", default="")
    ap.add_argument("--peer-model", default="fr_feature")
    ap.add_argument("--models", default="")
    ap.add_argument("--title", default="facekit on the GPU: throughput vs batch size")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    keep = set(a.models.split(",")) if a.models else None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for spec in a.runs:
        label, path = spec.split("=", 1)
        doc = json.load(open(path))
        by_model = {}
        for r in doc["results"]:
            if keep and r["model"] not in keep:
                continue
            if r.get("inputs_per_s"):
                by_model.setdefault(r["model"], []).append((r["batch"], r["inputs_per_s"]))
        for m, pts in sorted(by_model.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"facekit {label}: {m}")
    if a.peers:
        doc = json.load(open(a.peers))
        for p in doc.get("peers", []):
            for prec in ("fp32", "fp16"):
                pts = sorted((r["batch"], r["inputs_per_s"]) for r in p.get("results", [])
                             if r.get("precision", "fp32") == prec)
                if pts:
                    ax.plot([q[0] for q in pts], [q[1] for q in pts], marker="x", linestyle="--",
                            label=f"{p['peer']} {prec}: {a.peer_model}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("inputs / s (host in, host out)")
    ax.set_title(a.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
