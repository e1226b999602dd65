"""The fitted preprocessing as plain numbers: one frozen dataclass, in memory and in JSON.

Training fits a scikit-learn ``ColumnTransformer`` (:mod:`shared.engine.preprocess`) and reads
its fitted numbers out once into :class:`PreprocessingParams`; the serving bundle stores exactly
that (``serving/params.json``, section ``"preprocessing"``) and the API rebuilds it from there.
:class:`~shared.serving.transform.ServingTransform` applies it to customer records. There is no
other in-memory form of the fitted preprocessing: the ``ColumnTransformer`` itself stays the
reviewed reference artifact (``preprocessor.skops``), which the tests' oracle replays.

This module imports the standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.quoting import quote_value

__all__ = [
    "InputColumn",
    "OneHotColumn",
    "OneHotSlot",
    "PreprocessingParams",
    "ScaledColumn",
]

InputRole = Literal["numeric", "date", "categorical"]
_ROLES: frozenset[str] = frozenset({"numeric", "date", "categorical"})


@dataclass(frozen=True, slots=True)
class InputColumn:
    """One used input column, in schema order: its name, how it is typed, whether log1p'd."""

    name: str
    role: InputRole
    log1p: bool


@dataclass(frozen=True, slots=True)
class ScaledColumn:
    """A numeric or date feature: impute ``fill``, optionally ``log1p``, then standardize.

    Output column ``output`` of a record is ``(f(x) - mean) / scale`` with ``x`` the value (or
    ``fill`` when missing) and ``f`` either ``log1p`` or the identity.
    """

    column: str
    output: int
    fill: float
    log1p: bool
    mean: float
    scale: float


@dataclass(frozen=True, slots=True)
class OneHotSlot:
    """One category of a one-hot encoded column and the output column it sets to 1."""

    label: str
    output: int


@dataclass(frozen=True, slots=True)
class OneHotColumn:
    """A categorical feature: impute ``fill`` (the most frequent label), then one-hot encode.

    The label's slot is set to ``value`` (1.0 unless the one-hot block is weighted, the
    ``ColumnTransformer``'s ``transformer_weights``); a label with no slot (a category unseen in
    training) sets no output column.
    """

    column: str
    fill: str
    slots: tuple[OneHotSlot, ...]
    value: float = 1.0


@dataclass(frozen=True, slots=True)
class PreprocessingParams:
    """The fitted preprocessing of one version, numbers only.

    The in-memory form for the engine (which builds it from the fitted ``ColumnTransformer``
    with :func:`shared.engine.preprocess.preprocessing_params` and writes it into the serving
    bundle) and for serving (which reads it back with :meth:`from_dict` and applies it with
    :class:`~shared.serving.transform.ServingTransform`). :meth:`to_dict` is its JSON form:
    floats stay Python floats, which ``json`` writes with ``repr`` and reads back identically.

    Attributes
    ----------
    columns : tuple of InputColumn
        The used input columns in schema order (checked against the manifest's schema).
    n_outputs : int
        Width of the prepared matrix.
    numeric : tuple of ScaledColumn
        Numeric and date features, in output order.
    categorical : tuple of OneHotColumn
        Categorical features, in output order.

    Notes
    -----
    A one-hot column's slots hold :attr:`OneHotColumn.value` (a block weight; 1.0 by default,
    written to JSON only when it differs, so bundles without it read as 1.0). A value per slot
    (per output column) would be the same small change one level down: ``value: float = 1.0``
    on :class:`OneHotSlot`, a third element of its JSON pair when not 1.0, and the transform's
    one-hot step writing ``slot.value``.

    Examples
    --------
    >>> params = PreprocessingParams(
    ...     columns=(InputColumn("Age", "numeric", False), InputColumn("Gender", "categorical",
    ...              False)),
    ...     n_outputs=3,
    ...     numeric=(ScaledColumn("Age", 0, 38.0, False, 38.9, 13.9),),
    ...     categorical=(OneHotColumn("Gender", "Female", (OneHotSlot("Female", 1),
    ...                                                    OneHotSlot("Male", 2))),),
    ... )
    >>> PreprocessingParams.from_dict(params.to_dict()) == params
    True
    >>> params.to_dict()["categorical"]
    [{'column': 'Gender', 'fill': 'Female', 'slots': [['Female', 1], ['Male', 2]]}]
    """

    columns: tuple[InputColumn, ...]
    n_outputs: int
    numeric: tuple[ScaledColumn, ...]
    categorical: tuple[OneHotColumn, ...]

    def __post_init__(self) -> None:
        outputs = [n.output for n in self.numeric] + [
            s.output for c in self.categorical for s in c.slots
        ]
        if any(not 0 <= o < self.n_outputs for o in outputs):
            raise ValueError(
                f"the preprocessing parameters name an output outside 0..{self.n_outputs}"
            )
        if len(set(outputs)) != len(outputs):
            raise ValueError("the preprocessing parameters name an output twice")
        names = {c.name for c in self.columns}
        features = [n.column for n in self.numeric] + [c.column for c in self.categorical]
        unknown = sorted(set(features) - names)
        if unknown:
            raise ValueError(f"the preprocessing parameters use unlisted column(s) {unknown}")
        for c in self.categorical:
            if not (math.isfinite(c.value) and c.value > 0):
                raise ValueError(
                    f"column {quote_value(c.column)}: value={c.value} should be a number > 0"
                )
        for n in self.numeric:
            if not all(map(math.isfinite, (n.fill, n.mean, n.scale))) or n.scale == 0:
                raise ValueError(
                    f"column {quote_value(n.column)}: fill={n.fill}, mean={n.mean}, "
                    f"scale={n.scale} "
                    "should be finite numbers with scale != 0"
                )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (``serving/params.json``'s ``"preprocessing"`` object).

        Examples
        --------
        >>> p = PreprocessingParams((InputColumn("x", "numeric", True),), 1,
        ...                         (ScaledColumn("x", 0, 2.0, True, 1.0, 0.5),), ())
        >>> p.to_dict()["numeric"]
        [{'column': 'x', 'output': 0, 'fill': 2.0, 'log1p': True, 'mean': 1.0, 'scale': 0.5}]
        """
        return {
            "columns": [{"name": c.name, "role": c.role, "log1p": c.log1p} for c in self.columns],
            "n_outputs": self.n_outputs,
            "numeric": [
                {
                    "column": n.column,
                    "output": n.output,
                    "fill": n.fill,
                    "log1p": n.log1p,
                    "mean": n.mean,
                    "scale": n.scale,
                }
                for n in self.numeric
            ],
            "categorical": [
                {
                    "column": c.column,
                    "fill": c.fill,
                    "slots": [[s.label, s.output] for s in c.slots],
                    **({} if c.value == 1.0 else {"value": c.value}),
                }
                for c in self.categorical
            ],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> PreprocessingParams:
        """Rebuild the parameters from :meth:`to_dict` data (parsed JSON).

        Raises
        ------
        ValueError
            When a section or field is missing, of the wrong type, or inconsistent (an output
            outside the matrix, a non-finite number, a column that is not listed).

        Examples
        --------
        >>> PreprocessingParams.from_dict({"columns": [], "n_outputs": 0, "numeric": [],
        ...                                "categorical": []}).n_outputs
        0
        >>> PreprocessingParams.from_dict({"columns": [], "numeric": []})
        Traceback (most recent call last):
        ...
        ValueError: the preprocessing parameters are malformed: missing 'categorical'
        """
        try:
            columns = tuple(
                InputColumn(_text(c["name"]), _role(c["role"]), _flag(c["log1p"]))
                for c in _items(doc["columns"])
            )
            numeric = tuple(
                ScaledColumn(
                    column=_text(n["column"]),
                    output=_integer(n["output"]),
                    fill=_number(n["fill"]),
                    log1p=_flag(n["log1p"]),
                    mean=_number(n["mean"]),
                    scale=_number(n["scale"]),
                )
                for n in _items(doc["numeric"])
            )
            categorical = tuple(
                OneHotColumn(
                    column=_text(c["column"]),
                    fill=_text(c["fill"]),
                    slots=tuple(_slot(pair) for pair in _items(c["slots"])),
                    value=_number(c.get("value", 1.0)),
                )
                for c in _items(doc["categorical"])
            )
            n_outputs = _integer(doc["n_outputs"])
        except KeyError as e:
            raise ValueError(f"the preprocessing parameters are malformed: missing {e}") from e
        except TypeError as e:
            raise ValueError(f"the preprocessing parameters are malformed: {e}") from e
        return cls(columns, n_outputs, numeric, categorical)


def _items(value: Any) -> Sequence[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a text, got {quote_value(value)}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {quote_value(value)}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {quote_value(value)}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {quote_value(value)}")
    return float(value)


def _role(value: Any) -> InputRole:
    if value not in _ROLES:
        raise TypeError(f"expected a role of {sorted(_ROLES)}, got {quote_value(value)}")
    role: InputRole = value
    return role


def _slot(pair: Any) -> OneHotSlot:
    if not isinstance(pair, list) or len(pair) != 2:
        raise TypeError(f"a one-hot slot is a [label, output] pair, got {quote_value(pair)}")
    return OneHotSlot(_text(pair[0]), _integer(pair[1]))
