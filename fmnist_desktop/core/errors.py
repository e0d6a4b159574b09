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
