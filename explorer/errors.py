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
