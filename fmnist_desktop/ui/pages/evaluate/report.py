"""The Evaluate page's File ▸ Export…: the shown evaluation as a JSON report, written atomically."""

from __future__ import annotations

import json
from pathlib import Path


def write_report(outcome, target: str | Path) -> None:
    """Write `outcome` (a page.EvaluationOutcome) as the evaluation report JSON; raises
    core.base.errors.FmnistError when it cannot be written."""
    from ....core.base.paths import atomic_write_text
    from ....core.jobs.evaluate import report as evaluation_report

    entry = outcome.entry
    report = evaluation_report(outcome.result, name=entry.name, path=entry.path,
                               preset=getattr(entry.meta, "preset", None), data_source=outcome.source_description)
    if outcome.photo is not None:  # a photo model on labelled photos: the CLI's evaluate-photos figures too
        figures = json.loads(outcome.photo.photo_result.to_json())
        report["photos"] = {key: figures[key] for key in ("threshold", "not_sure_rate", "confidently_wrong_rate",
                                                           "n_none", "none_flagged_rate", "errors", "files")}
    atomic_write_text(target, json.dumps(report, indent=2, ensure_ascii=False))
