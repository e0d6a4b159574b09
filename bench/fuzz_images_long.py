"""Long image-fuzzing run: many more mutated files than CI tries, with every distinct failure kept.

    .venv/bin/python bench/fuzz_images_long.py --cases 20000 [--seed 1] [--out DIR] [--through-predictor]

Uses the seeds, mutations and property of `tests/hardening/test_fuzz_images.py` (the CI test),
but draws mutations from a plain seeded RNG so the run goes on after a failure and counts every
distinct one (grouped by exception type and the line that raised it). Each failing input is
written to `--out` (default: a temporary folder) as `<seed>-<case>.bin`, with the ops that made
it, so it can become an `@example` in the CI test.

`--through-predictor` also runs every 10th case through `core.predict.predictor.Predictor.predict_paths`
(an untrained network), checking the file-level result matches the direct one.

Prints one line of progress every 1000 cases and a summary: cases, cases/s, outcomes
(ok / refused), failures. Exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load_fuzz_module():
    path = ROOT / "tests" / "hardening" / "test_fuzz_images.py"
    spec = importlib.util.spec_from_file_location("fuzz_images_cases", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _failure_key(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f for f in reversed(frames) if "fmnist_desktop" in f.filename), frames[-1] if frames else None)
    place = f"{Path(where.filename).name}:{where.lineno}" if where else "?"
    return f"{type(exc).__name__} at {place}"


def _predictor():
    import torch

    from fmnist_desktop.core.store.checkpoint import CheckpointMeta
    from fmnist_desktop.core.models import build_model
    from fmnist_desktop.core.predict.predictor import Predictor

    torch.manual_seed(0)
    return Predictor(build_model("seed_cnn"), CheckpointMeta.for_preset("seed", "fuzz"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="folder for failing inputs")
    parser.add_argument("--through-predictor", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("FMNIST_DESKTOP_HOME", tempfile.mkdtemp(prefix="fmnist-fuzz-home-"))
    fuzz = _load_fuzz_module()
    out = args.out or Path(tempfile.mkdtemp(prefix="fmnist-fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    seeds = fuzz.seed_files()
    rng = random.Random(args.seed)
    predictor = _predictor() if args.through_predictor else None
    scratch = Path(tempfile.mkdtemp(prefix="fmnist-fuzz-files-"))

    outcomes: collections.Counter[str] = collections.Counter()
    failures: dict[str, list[str]] = collections.defaultdict(list)
    slowest = (0.0, "")
    start = time.perf_counter()
    for case in range(args.cases):
        name, ext, data = seeds[rng.randrange(len(seeds))]
        ops = fuzz.random_ops(rng)
        fix_crc = rng.random() < 0.5
        blob = fuzz.apply_mutations(data, ops, fix_png_crc=fix_crc)
        t0 = time.perf_counter()
        try:
            outcome = fuzz.check_image_bytes(blob)
            if predictor is not None and case % 10 == 0:
                _check_predictor(fuzz, predictor, scratch / f"case{ext}", blob, outcome)
            outcomes[outcome] += 1
        except Exception as exc:  # noqa: BLE001 — counting failures is the point
            key = _failure_key(exc)
            stem = f"{name}-{case}"
            (out / f"{stem}.bin").write_bytes(blob)
            (out / f"{stem}.json").write_text(json.dumps(
                {"seed": name, "ops": [_jsonable(op) for op in ops], "fix_crc": fix_crc, "error": f"{type(exc).__name__}: {exc}"[:500]}, indent=1))
            failures[key].append(stem)
            outcomes["FAILED"] += 1
        took = time.perf_counter() - t0
        if took > slowest[0]:
            slowest = (took, f"{name} case {case}")
        if (case + 1) % 1000 == 0:
            rate = (case + 1) / (time.perf_counter() - start)
            print(f"{case + 1:,} cases, {rate:.1f}/s, {dict(outcomes)}", flush=True)
    elapsed = time.perf_counter() - start
    print(f"\ncases: {args.cases:,} in {elapsed:.1f} s = {args.cases / elapsed:.1f} cases/s (seed {args.seed})")
    print(f"outcomes: {dict(outcomes)}")
    print(f"slowest case: {slowest[0] * 1000:.0f} ms ({slowest[1]})")
    print(f"distinct failures: {len(failures)}")
    for key, stems in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(stems):5d} x {key}  e.g. {out / stems[0]}.bin")
    return 1 if failures else 0


def _jsonable(op: tuple) -> list:
    return [value.hex() if isinstance(value, bytes) else value for value in op]


def _check_predictor(fuzz, predictor, path: Path, blob: bytes, direct: str) -> None:
    path.write_bytes(blob)
    [result] = predictor.predict_paths([path])
    if direct == "ok":
        assert result.ok and result.model_input.size == (28, 28), result.error
    else:
        assert not result.ok
        assert "could not be read (" not in result.error, result.error  # predict's catch-all fired


if __name__ == "__main__":
    sys.exit(main())
