"""User-facing errors: each carries one readable line that the CLI and UI show as is."""


class ExplorerError(Exception):
    """A mistake in the user's input or environment; its message is shown without a traceback."""


class DataError(ExplorerError):
    """A dataset is missing, empty or malformed."""


class CheckpointError(ExplorerError):
    """A checkpoint cannot be loaded: missing, truncated, wrong shapes, non-finite, or not safetensors."""


class ConfigError(ExplorerError):
    """An unknown preset, model, dataset, loss or an invalid setting."""


class TrainingDiverged(ExplorerError):
    """A loss or weight became NaN/Inf; the last good checkpoint is kept."""


def missing_dependency(err: ModuleNotFoundError) -> str:
    """One line for a Python that lacks a dependency (usually: not the virtual environment the install made)."""
    import sys
    return (f"error: the Python package '{err.name}' is not installed for {sys.executable}; run the README's "
            f"set-up command, then use .venv/bin/python (or `source .venv/bin/activate` first)")
