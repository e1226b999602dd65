"""The optional per-dataset config, ``configs/<dataset>.json`` in the raw bucket.

Keys (all optional): ``features``, ``id_column``, ``exclude``, ``categorical``, ``outcomes``,
``algorithms``, ``k_min``, ``k_max``, the champion guardrails ``max_segment_share``,
``min_segment_share``, ``min_segment_size``, ``max_noise_share``, and for order-line uploads
``table`` (``auto`` | ``customers`` | ``transactions``), ``customer_column``, ``date_column``,
``order_column``, ``amount_column``, ``quantity_column``, ``price_column``, ``product_column``,
``as_of``. Unknown keys are an error that names them.

A config is bounded before it is parsed: at most :data:`MAX_CONFIG_BYTES` bytes and
:data:`MAX_CONFIG_DEPTH` levels of nested arrays/objects (a document nested thousands of levels
deep would otherwise exhaust the parser's recursion and fail every upload of the dataset).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.contract.layout import MAX_CONFIG_BYTES
from shared.contract.transactions import TableKind
from shared.exceptions import ConfigError, InvalidDatasetNameError, UnknownConfigKeyError
from shared.quoting import quote_value

__all__ = [
    "ALGORITHMS",
    "ALL_ALGORITHMS",
    "DATASET_NAME_PATTERN",
    "K_LIMIT",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "OPT_IN_ALGORITHMS",
    "Algorithm",
    "DatasetConfig",
    "parse_config",
    "validate_dataset_name",
]

Algorithm = Literal["kmeans", "agglomerative", "dbscan", "gmm", "autoencoder"]
ALGORITHMS: tuple[Algorithm, ...] = ("kmeans", "agglomerative", "dbscan", "gmm")
"""The algorithms a run fits by default."""
OPT_IN_ALGORITHMS: tuple[Algorithm, ...] = ("autoencoder",)
"""Algorithms fitted only when the config's ``algorithms`` lists them (README, "Why this
segment", says why the autoencoder is not a default)."""
ALL_ALGORITHMS: tuple[Algorithm, ...] = (*ALGORITHMS, *OPT_IN_ALGORITHMS)
"""Every algorithm a config may name."""
K_LIMIT = 30
DATASET_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9\-_]{0,62}$")
MAX_CONFIG_DEPTH = 16
"""Deepest nesting of arrays/objects a config may have (a valid one needs 2: an object of lists)."""
_JSON_TOKEN = re.compile(r'["\\\[\]{}]')
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TRANSACTION_COLUMN_KEYS = (
    "customer_column",
    "date_column",
    "order_column",
    "amount_column",
    "quantity_column",
    "price_column",
    "product_column",
)
"""Config keys naming the role of an order-line column (see :mod:`shared.engine.transactions`)."""


class DatasetConfig(BaseModel):
    """Tuning for one dataset. Every field is optional; the defaults infer everything.

    Examples
    --------
    >>> DatasetConfig(k_max=6).k_range
    range(2, 7)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: list[str] | None = Field(
        default=None, description="Columns to cluster on; default: every usable column."
    )
    id_column: str | None = Field(default=None, description="Identifier column; default inferred.")
    exclude: list[str] = Field(default_factory=list, description="Columns to ignore.")
    categorical: list[str] = Field(
        default_factory=list, description="Columns to treat as categories whatever their type."
    )
    outcomes: list[str] | None = Field(
        default=None,
        description="Columns profiled per segment as rates and never clustered on; default: "
        "outcome-like columns are detected by name (see shared.engine.screening); [] turns "
        "the detection off.",
    )
    algorithms: list[Algorithm] = Field(
        default_factory=lambda: list(ALGORITHMS),
        min_length=1,
        description="Algorithms to fit; default kmeans, agglomerative, dbscan and gmm. "
        "'autoencoder' (a dense autoencoder, then K-Means in its latent space) is opt-in.",
    )
    seed_column: str | None = Field(
        default=None,
        description="Column of known group labels ('VIP', 'Student', blank for most): K-Means "
        "becomes Seeded K-Means (its groups start the centres, and segments grown from them "
        "carry their label). Never a feature.",
    )
    k_min: int = Field(default=2, ge=2, le=K_LIMIT)
    k_max: int = Field(default=10, ge=2, le=K_LIMIT)
    # Champion guardrails: a model can be the champion only if a marketer can use its segments.
    max_segment_share: float = Field(
        default=0.70,
        strict=True,
        gt=0.0,
        le=1.0,
        description="Champion guardrail: the largest segment holds at most this share of the "
        "customers.",
    )
    min_segment_share: float = Field(
        default=0.01,
        strict=True,
        ge=0.0,
        lt=1.0,
        description="Champion guardrail: the smallest segment (outliers aside) holds at least "
        "this share of the customers (and at least min_segment_size customers).",
    )
    min_segment_size: int = Field(
        default=10,
        strict=True,
        ge=0,
        description="Champion guardrail: the smallest segment (outliers aside) holds at least "
        "this many customers (and at least min_segment_share of them).",
    )
    max_noise_share: float = Field(
        default=0.10,
        strict=True,
        ge=0.0,
        le=1.0,
        description="Champion guardrail: at most this share of the customers are left "
        "unassigned as outliers (DBSCAN).",
    )

    # Order-line (transaction) uploads: see shared.engine.transactions.
    table: TableKind = Field(
        default="auto",
        description="'transactions': one row per order line, aggregated per customer before "
        "clustering; 'customers': one row per customer, as uploaded; 'auto': decided from the "
        "columns (a repeating customer id with a date).",
    )
    customer_column: str | None = Field(
        default=None, description="Order lines: the customer id or name column."
    )
    date_column: str | None = Field(default=None, description="Order lines: the date column.")
    order_column: str | None = Field(
        default=None, description="Order lines: the order or invoice number column."
    )
    amount_column: str | None = Field(
        default=None, description="Order lines: the line amount column."
    )
    quantity_column: str | None = Field(
        default=None, description="Order lines: the quantity column (amount = quantity x price)."
    )
    price_column: str | None = Field(
        default=None, description="Order lines: the unit price column."
    )
    product_column: str | None = Field(
        default=None, description="Order lines: the product or stock code column."
    )
    as_of: str | None = Field(
        default=None,
        description="Order lines: the day (YYYY-MM-DD) recency and tenure are counted to; "
        "default: the newest line's day.",
    )

    @field_validator("as_of")
    @classmethod
    def _check_as_of(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            if not _ISO_DAY.match(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            raise ValueError("should be a day written YYYY-MM-DD") from None
        return value

    @model_validator(mode="after")
    def _check_transaction_keys(self) -> DatasetConfig:
        named = [key for key in TRANSACTION_COLUMN_KEYS if getattr(self, key) is not None]
        if self.table == "customers" and (named or self.as_of is not None):
            keys = ", ".join([*named, *(["as_of"] if self.as_of is not None else [])])
            raise ValueError(f'{keys} only apply to order lines, but table is "customers"')
        if self.price_column is not None and self.quantity_column is None:
            raise ValueError("price_column needs quantity_column (amount = quantity x price)")
        columns = [getattr(self, key) for key in named]
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise ValueError(f"{', '.join(map(repr, repeated))} is named for two roles")
        return self

    @model_validator(mode="after")
    def _check_k_range(self) -> DatasetConfig:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min={self.k_min} should be <= k_max={self.k_max}")
        if len(set(self.algorithms)) != len(self.algorithms):
            raise ValueError(f"algorithms lists a name twice: {self.algorithms}")
        return self

    @model_validator(mode="after")
    def _check_guardrails(self) -> DatasetConfig:
        # Limits no segmentation in the k sweep could meet are a mistake, not a preference.
        if self.min_segment_share >= self.max_segment_share:
            raise ValueError(
                f"min_segment_share={self.min_segment_share} should be < "
                f"max_segment_share={self.max_segment_share}"
            )
        if self.min_segment_share * self.k_min > 1.0:
            raise ValueError(
                f"min_segment_share={self.min_segment_share} cannot be met: with k_min="
                f"{self.k_min} segments the smallest holds at most {1 / self.k_min:.0%}"
            )
        if self.max_segment_share * self.k_max < 1.0:
            raise ValueError(
                f"max_segment_share={self.max_segment_share} cannot be met: with k_max="
                f"{self.k_max} segments the largest holds at least {1 / self.k_max:.0%}"
            )
        return self

    @property
    def k_range(self) -> range:
        """The k values swept by the k-based algorithms."""
        return range(self.k_min, self.k_max + 1)


def parse_config(raw: bytes | str | Mapping[str, Any] | DatasetConfig | None) -> DatasetConfig:
    """Parse and validate a dataset config.

    Parameters
    ----------
    raw : bytes, str, mapping, DatasetConfig or None
        The JSON document (bytes or text), an already-decoded mapping, or nothing.

    Returns
    -------
    DatasetConfig
        The validated config; the defaults when ``raw`` is None or empty.

    Raises
    ------
    UnknownConfigKeyError
        When the config has keys the system does not know (they are named).
    ConfigError
        When the JSON is malformed, larger than :data:`MAX_CONFIG_BYTES` or nested deeper than
        :data:`MAX_CONFIG_DEPTH` (the limit is named), or a value is invalid (the key and value
        are named).

    Examples
    --------
    >>> parse_config(b'{"k_max": 6}').k_max
    6
    >>> parse_config("[" * 5000 + "]" * 5000)
    Traceback (most recent call last):
    ...
    shared.exceptions.ConfigError: config is nested 5,000 levels deep; the limit is 16 levels \
(MAX_CONFIG_DEPTH)
    """
    if raw is None:
        return DatasetConfig()
    if isinstance(raw, DatasetConfig):
        return raw
    data: Any
    if isinstance(raw, bytes | str):
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace"))
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"config is {size:,} bytes; the limit is {MAX_CONFIG_BYTES:,} bytes "
                "(MAX_CONFIG_BYTES)"
            )
        text = raw.decode("utf-8-sig", errors="replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            return DatasetConfig()
        _check_depth(text)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"config is not valid JSON: {e.msg} at line {e.lineno}") from e
    else:
        data = dict(raw)
    if not isinstance(data, dict):
        raise ConfigError(f"config must be a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(DatasetConfig.model_fields))
    if unknown:
        known = ", ".join(DatasetConfig.model_fields)
        raise UnknownConfigKeyError(
            f"config has unknown key(s) {', '.join(map(quote_value, unknown))}; known keys: {known}"
        )
    try:
        return DatasetConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            # Name the offending value (short scalars only: never echo a whole document).
            + (
                f" (got {quote_value(err['input'])})"
                if err["loc"]
                and isinstance(err.get("input"), str | int | float | bool)
                and len(repr(err["input"])) <= 80
                else ""
            )
            for err in e.errors()
        )
        raise ConfigError(f"invalid config: {problems}") from e


def _check_depth(text: str) -> None:
    """Refuse a JSON text nested deeper than :data:`MAX_CONFIG_DEPTH`, without parsing it.

    One pass over the quotes, backslashes and brackets (a regular expression for whole strings
    would backtrack quadratically on ``"\\"\\"...``); brackets inside strings do not count.
    """
    depth = deepest = 0
    in_string = False
    escaped = -1  # position of the character a backslash escapes
    for token in _JSON_TOKEN.finditer(text):
        char, position = token.group(), token.start()
        if in_string:
            if position == escaped:
                continue
            if char == "\\":
                escaped = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_CONFIG_DEPTH:
        raise ConfigError(
            f"config is nested {deepest:,} levels deep; the limit is {MAX_CONFIG_DEPTH} levels "
            "(MAX_CONFIG_DEPTH)"
        )


def validate_dataset_name(name: str) -> str:
    """Return ``name`` if it is a valid dataset name, else raise.

    Raises
    ------
    InvalidDatasetNameError
        When ``name`` does not match ``[a-z0-9][a-z0-9-_]{0,62}``.

    Examples
    --------
    >>> validate_dataset_name("mall")
    'mall'
    """
    if not DATASET_NAME_PATTERN.fullmatch(name):
        shown = name if len(name) <= 80 else name[:77] + "..."
        raise InvalidDatasetNameError(
            f"dataset name {quote_value(shown)} is invalid: use 1-63 characters of a-z, "
            f"0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    return name
