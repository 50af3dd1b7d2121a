"""Save the MLflow peer's model for ``serving.py`` — runs in the MLflow peer venv.

    python _serving_mlflow.py --booster model.txt --transform transform.json \
        --out DIR [--check vertex-64.jsonl --reference reference.json]

``mlflow.pyfunc.save_model`` of :class:`_serving_mlflow_pyfunc.FlightsDelayModel` with the
booster and the transform as artifacts, the class's file as ``code_paths`` and an input
signature inferred from a request's rows (MLflow then enforces the schema on every
request, as mloop checks its signature). With ``--check``, the saved model is loaded back
with ``mlflow.pyfunc.load_model`` and its labels and probabilities are compared with
mloop's on those bodies (``--reference``: ``{"labels": [...], "scores": [...]}``).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNAVAILABLE = 3


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--booster", type=Path, required=True)
    ap.add_argument("--transform", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--example", type=Path, required=True, help="a body file (MLflow format)")
    ap.add_argument("--check", type=Path, help="body file (MLflow format) to compare on")
    ap.add_argument("--reference", type=Path, help="mloop's labels and scores on --check")
    args = ap.parse_args()
    for key in [k for k in os.environ if k.startswith(("MLFLOW_", "DATABRICKS_"))]:
        del os.environ[key]
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "1"
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    try:
        import mlflow
        import numpy as np
        import pandas as pd
        from mlflow.models import infer_signature
    except ImportError as exc:
        print(json.dumps({"contender": "mlflow", "unavailable": f"cannot import mlflow: {exc}"}))
        return UNAVAILABLE
    sys.path.insert(0, str(HERE))
    from _serving_mlflow_pyfunc import FlightsDelayModel

    with args.example.open() as f:
        example = pd.DataFrame(json.loads(f.readline())["dataframe_records"])
    mlflow.pyfunc.save_model(
        str(args.out),
        python_model=FlightsDelayModel(),
        artifacts={"booster": str(args.booster), "transform": str(args.transform)},
        code_paths=[str(HERE / "_serving_mlflow_pyfunc.py")],
        signature=infer_signature(example),
    )
    record: dict = {"contender": "mlflow", "saved": str(args.out), "mlflow": mlflow.__version__}
    if args.check:
        loaded = mlflow.pyfunc.load_model(str(args.out))
        inner = loaded.unwrap_python_model()
        frames = [pd.DataFrame(json.loads(line)["dataframe_records"]) for line in args.check.open()]
        frame = pd.concat(frames, ignore_index=True)
        labels = np.asarray(loaded.predict(frame))
        scores = inner.scores(frame)
        ref = json.loads(args.reference.read_text())
        ref_labels, ref_scores = np.asarray(ref["labels"]), np.asarray(ref["scores"])
        record["check"] = {
            "rows": len(frame),
            "labels_equal": bool(np.array_equal(labels, ref_labels)),
            "label_mismatches": int((labels != ref_labels).sum()),
            "positive_labels": int(labels.sum()),
            "max_abs_score_diff": float(np.max(np.abs(scores - ref_scores))),
        }
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
