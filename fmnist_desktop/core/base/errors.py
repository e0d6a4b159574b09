"""User-facing errors.

Every error the user can cause (bad file, missing data set, foreign checkpoint, full disk) is
raised as an `FmnistError` whose `str()` is one readable sentence. The CLI prints it as one line
and exits non-zero; the GUI shows it where the user is looking. Anything else is a bug.
"""


class FmnistError(Exception):
    """An error with a message fit to show a user. `hint` says how to fix it, if we know."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class DatasetError(FmnistError):
    """Fashion-MNIST is missing, truncated, corrupt or not Fashion-MNIST."""


class CheckpointError(FmnistError):
    """A model file is damaged, foreign, of another architecture or of a newer format."""


class ImageLoadError(FmnistError):
    """An image file cannot be read (not an image, truncated, too large...)."""


class TrainingError(FmnistError):
    """Training could not start or could not go on (bad settings, device unavailable, OOM)."""


class SaveError(FmnistError):
    """A file could not be written (disk full, permission denied); the old file is intact."""


# ---------------------------------------------------------------------------------------------
# Exceptions that are not FmnistErrors, described once for every face of the app

OUT_OF_MEMORY = "Out of memory. Close other programs or use smaller settings, then try again."


def out_of_memory_kind(exc: BaseException) -> str | None:
    """"gpu" or "cpu" when `exc` says a device ran out of memory, else None.

    Older torch, ROCm and some CUDA paths raise a plain RuntimeError("CUDA out of memory ...");
    torch's CPU allocator says "can't allocate memory". No torch import: matched by name and text.
    """
    text = str(exc).lower()
    if type(exc).__name__ == "OutOfMemoryError" or (
        "out of memory" in text and any(word in text for word in ("cuda", "hip", "mps", "gpu"))
    ):
        return "gpu"
    if isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate memory" in text:
        return "cpu"
    return None


def describe_exception(exc: BaseException) -> str:
    """One line a user can read for any exception raised by background work.

    `FmnistError`s already carry a user-facing sentence (and hint). Anything else is a bug or an
    unforeseen condition: the traceback belongs in the log file, the user gets its type and message.
    """
    if isinstance(exc, FmnistError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = out_of_memory_kind(exc)
    if kind == "gpu":
        return f"Out of GPU memory ({text}). Try a smaller batch size or the CPU."
    if kind == "cpu":
        return OUT_OF_MEMORY
    name = type(exc).__name__
    return f"Unexpected error ({name}): {text}" if text else f"Unexpected error ({name})."
