"""Issue 28: the cost of branching ImageNet's opinion off at block 11 instead of 13, on the
model's ONNX twin (what the app answers with), batch 1, interleaved call by call.

    .venv/bin/python bench/photo_experiments/round5/opinion_cost.py OLD.pt NEW.pt [--n 200]
"""
import os
import statistics
import sys
import time

import numpy as np

from fmnist_desktop.core.jobs.twins import ensure_twin


def main(old: str, new: str, n: int = 200) -> None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    sessions = {}
    for label, path in (("block 13", old), ("block 11", new)):
        twin = ensure_twin(path)
        sessions[label] = ort.InferenceSession(str(twin.onnx_path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((1, 3, 224, 224), dtype=np.float32)
    name = {k: s.get_inputs()[0].name for k, s in sessions.items()}
    times = {k: [] for k in sessions}
    for _ in range(10):
        for k, s in sessions.items():
            s.run(None, {name[k]: x})
    for _ in range(n):
        for k, s in sessions.items():
            t = time.perf_counter()
            s.run(None, {name[k]: x})
            times[k].append(1000 * (time.perf_counter() - t))
    print(f"load {os.getloadavg()[0]:.1f}")
    for k, v in times.items():
        print(f"{k}: median {statistics.median(v):.1f} ms, p90 {np.percentile(v, 90):.1f} ms over {n} calls")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)
