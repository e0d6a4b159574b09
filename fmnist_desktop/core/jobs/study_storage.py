"""Where tuning studies live and how they are read: the study database (SQLite in the app data
folder, or any storage URL), each study's best model file, and the trials as `TrialRecord`s.
Names also importable from core.jobs.tuning.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base.errors import FmnistError
from ..base.paths import app_data_dir
from ..base.url_secrets import mask_passwords
from .study_workers import HEARTBEAT_S

if TYPE_CHECKING:
    import optuna

DEFAULT_STUDY = "fmnist"
INSTALL_HINT = 'Install it with: pip install "fmnist-desktop[tune]" (or: pip install optuna).'


@dataclass(frozen=True)
class TrialRecord:
    number: int
    state: str  # "COMPLETE" | "PRUNED" | "FAIL" | "RUNNING" | "WAITING"
    value: float | None  # validation accuracy (percent) of the trained model; None if none
    params: dict[str, Any]
    epochs_run: int
    duration_s: float | None
    note: str = ""  # why it failed or stopped

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def tuning_dir() -> Path:
    path = app_data_dir() / "tuning"
    path.mkdir(parents=True, exist_ok=True)
    return path


def study_storage_url() -> str:
    """The default storage: one SQLite file in the app data folder holds every study."""
    return f"sqlite:///{(tuning_dir() / 'studies.sqlite3').as_posix()}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "study"


def best_model_path(study: str) -> Path:
    """Where the study's best model so far is kept (a normal checkpoint file). A name that its
    file name cannot spell ('a/b', 'a b') gets a digest of the whole name too: such studies
    shared one file, and the library got the other study's model (issue 17)."""
    slug = _slug(study)
    if slug != study:
        import hashlib

        slug += "-" + hashlib.sha256(study.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return tuning_dir() / f"{slug}-best.pt"


def _import_optuna():
    try:
        import optuna
    except ImportError as exc:
        raise FmnistError("Hyper-parameter tuning needs the optuna package, which is not installed.", INSTALL_HINT) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


_STORAGE_LOCK = threading.Lock()


def _storage(url: str | None, heartbeat_s: float = HEARTBEAT_S):
    from .study_workers import storage_kwargs

    optuna = _import_optuna()
    given = url or study_storage_url()
    url = with_installed_driver(given)
    kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else server_engine_kwargs()
    workers = storage_kwargs(heartbeat_s)
    try:
        # Creating a new database's tables is not safe from two threads at once (the GUI reads
        # the study while a run starts): one at a time here, and one retry for another process
        # that created it at the same moment.
        with _STORAGE_LOCK:
            try:
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **workers)
            except Exception:  # noqa: BLE001
                time.sleep(0.5)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, **workers)
    except Exception as exc:  # noqa: BLE001 — a damaged or locked file must reach the user as one line
        reason = mask_passwords((str(exc).splitlines() or [""])[0][:200])
        raise FmnistError(
            f"The tuning database {_display_url(given)} cannot be opened ({type(exc).__name__}: {reason}).",
            "Choose another study storage, or move the damaged file aside.",
        ) from None  # the chained exception's text may hold the URL as given


def server_engine_kwargs() -> dict[str, Any]:
    """A database server's engine keeps no idle connections: each storage operation opens one
    and closes it. Every `_storage` call makes an engine, and each engine's pool kept up to
    five connections until the garbage collector found it; a worker polling a shared study, its
    heartbeat and a second worker ran a 50-connection server out of connections ("sorry, too
    many clients already"). Now a process holds one connection per thread at work, at most."""
    from sqlalchemy.pool import NullPool

    return {"poolclass": NullPool}


def with_installed_driver(url: str) -> str:
    """`url` with the PostgreSQL driver this installation has. SQLAlchemy 2 reads a bare
    "postgresql://" as psycopg 3, while the `[tune]` extra installs psycopg2: the documented
    form then failed with "Failed to import DB access module". A URL naming its driver
    ("postgresql+psycopg://") is left as written."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        return url
    import importlib.util

    if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    return url


def load_study(study: str = DEFAULT_STUDY, storage: str | None = None) -> "optuna.Study":
    """An existing study (FmnistError naming the known studies when there is none)."""
    optuna = _import_optuna()
    store = _storage(storage)
    try:
        return optuna.load_study(study_name=study, storage=store)
    except KeyError:
        known = [s.study_name for s in optuna.get_all_study_summaries(store)]
        raise FmnistError(
            f"There is no tuning study named {study!r}" + (f"; known: {', '.join(known)}." if known else "."),
            "Run fmnist tune first.",
        ) from None


def study_names(storage: str | None = None) -> list[str]:
    optuna = _import_optuna()
    return [s.study_name for s in optuna.get_all_study_summaries(_storage(storage))]


def trial_records(study: "optuna.Study") -> list[TrialRecord]:
    """Every trial of the study as a TrialRecord, in number order."""
    out = []
    for t in study.get_trials(deepcopy=False):
        duration = t.duration.total_seconds() if t.duration is not None else None
        note = str(t.user_attrs.get("note", ""))
        epochs_run = len(t.intermediate_values)
        value = t.value
        if value is None and t.state.name == "PRUNED" and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        out.append(TrialRecord(t.number, t.state.name, value, dict(t.params), epochs_run, duration, note))
    return out


def best_record(records: list[TrialRecord] | tuple[TrialRecord, ...]) -> TrialRecord | None:
    complete = [r for r in records if r.state == "COMPLETE" and r.value is not None and math.isfinite(r.value)]
    return max(complete, key=lambda r: (r.value, -r.number)) if complete else None


def _display_url(url: str | None) -> str:
    from .study_workers import hide_password

    return hide_password(str(url or study_storage_url())).replace("sqlite:///", "")


def _is_read_only_database(exc: BaseException) -> bool:
    """Whether SQLite refused a write because the database (or its folder) is read-only,
    anywhere in the exception's chain (issue 17)."""
    seen = 0
    while exc is not None and seen < 20:
        if "readonly database" in str(exc) or "read-only database" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
