"""One error hierarchy for the whole product.

Every error the domain raises is a :class:`SegmentationError`. The API maps them to HTTP
statuses in one place (``lambdas/api/errors.py``) and the training run maps them to failure
reports in one place (``shared/training/run.py``). Messages name the column, row, value or limit
involved, so they can be shown to a user as they are.
"""

from __future__ import annotations

__all__ = [
    "AlgorithmNotFittedError",
    "ArtifactError",
    "BatchTooLargeError",
    "ChecksumMismatchError",
    "ConfigError",
    "DataValidationError",
    "DatasetNotFoundError",
    "EmptyFileError",
    "FileTooLargeError",
    "InvalidCustomerError",
    "InvalidDatasetNameError",
    "InvalidTransactionError",
    "MissingColumnError",
    "NoModelError",
    "NoUsableFeatureError",
    "NotATableError",
    "NotFoundError",
    "NotOrderLinesError",
    "PreviousAttemptsFailedError",
    "SegmentNotFoundError",
    "SegmentationError",
    "TooFewRowsError",
    "TooManyFeaturesError",
    "TrainingInProgressError",
    "TransientStoreError",
    "UnknownConfigKeyError",
    "UnsupportedFormatError",
    "UntrustedTypeError",
    "VersionNotFoundError",
]


class SegmentationError(Exception):
    """Base class of every error raised by the segmentation system."""


# --- bad input: the upload or its config cannot be used -------------------------------------


class DataValidationError(SegmentationError):
    """An uploaded file or dataset config cannot be used; the message says why."""


class EmptyFileError(DataValidationError):
    """The file has no bytes, or no data rows."""


class NotATableError(DataValidationError):
    """The bytes are not a readable table (binary garbage, an image, a truncated gzip...)."""


class UnsupportedFormatError(DataValidationError):
    """The file extension or content type is not one the system reads."""


class FileTooLargeError(DataValidationError):
    """The file is larger than the documented limit."""


class TooFewRowsError(DataValidationError):
    """Fewer usable rows than the clustering needs."""


class TooManyFeaturesError(DataValidationError):
    """The prepared matrix would be wider (after one-hot) or larger than the documented limit."""


class NoUsableFeatureError(DataValidationError):
    """After inference and the config, no column is left to cluster on."""


class ConfigError(DataValidationError):
    """The dataset config is invalid."""


class UnknownConfigKeyError(ConfigError):
    """The dataset config has a key the system does not know."""


class MissingColumnError(ConfigError):
    """The dataset config (or a request) names a column the file does not have."""


class InvalidDatasetNameError(DataValidationError):
    """A dataset name does not match ``[a-z0-9][a-z0-9-_]{0,62}``."""


# --- assignment requests ---------------------------------------------------------------------


class InvalidCustomerError(SegmentationError):
    """A customer record sent for assignment has a value of the wrong type.

    Attributes
    ----------
    row : int
        Zero-based index of the customer in the request.
    column : str
        The column whose value is invalid.
    """

    def __init__(self, message: str, *, row: int, column: str) -> None:
        super().__init__(message)
        self.row = row
        self.column = column


class InvalidTransactionError(SegmentationError):
    """An order line sent for assignment cannot be read (line and column named), is dated after
    ``as_of``, or no line is left to aggregate."""


class NotOrderLinesError(SegmentationError):
    """Order lines were sent to a version trained on a customer table (or the reverse)."""


class BatchTooLargeError(SegmentationError):
    """More customers in one assignment call than the documented limit."""


class AlgorithmNotFittedError(SegmentationError):
    """The requested algorithm (or k) was not fitted for this model version."""


# --- lookups ---------------------------------------------------------------------------------


class NotFoundError(SegmentationError):
    """Something asked for by name does not exist."""


class DatasetNotFoundError(NotFoundError):
    """No dataset of that name exists."""


class VersionNotFoundError(NotFoundError):
    """The dataset has no version of that id."""


class SegmentNotFoundError(NotFoundError):
    """The model has no segment of that id."""


class NoModelError(SegmentationError):
    """The dataset exists (uploads or failures) but no model has been published yet."""


# --- artifacts and storage -------------------------------------------------------------------


class ArtifactError(SegmentationError):
    """A stored artifact cannot be trusted or read; it is refused, never executed."""


class ChecksumMismatchError(ArtifactError):
    """An artifact's sha256 does not match the one recorded in its manifest."""


class UntrustedTypeError(ArtifactError):
    """A skops file carries a type outside the reviewed trusted-type list."""


class PreviousAttemptsFailedError(SegmentationError):
    """Earlier deliveries of an upload ended without a word (killed: out of memory or time).

    Reported by the last delivery before it starts; the report is provisional: that attempt's
    own outcome replaces or removes it.
    """


class TransientStoreError(SegmentationError):
    """A storage call failed in a way that may succeed when retried (throttling, timeout)."""


class TrainingInProgressError(TransientStoreError):
    """Another worker holds the claim on this upload's version; retry later (it is then done)."""
