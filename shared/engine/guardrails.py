"""Usability guardrails: which segmentations a marketer can act on.

A model can be the champion only if its segments are usable (``GUARDRAIL_RULE``):

- its largest segment holds at most ``max_segment_share`` of the customers (default 70%): one
  segment holding nearly everyone is no segmentation;
- its smallest segment (outliers aside) holds at least ``max(min_segment_share of the customers,
  min_segment_size customers)`` (default 1% and 10): a handful of customers is not a segment to
  plan a campaign for;
- at most ``max_noise_share`` of the customers are left unassigned as outliers (default 10%;
  only DBSCAN leaves customers out).

Shares are of every training customer, outliers included. The limits are dataset config keys
(``shared.contract.config.DatasetConfig``). A model that fails stays published and browsable; it
is marked ineligible with the reasons, in the words the warnings use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.contract.config import DatasetConfig
from shared.contract.documents import NOISE_LABEL

__all__ = ["GUARDRAIL_RULE", "GuardrailCheck", "Guardrails", "segment_sizes"]

GUARDRAIL_RULE = (
    "usable segments: the largest segment holds at most max_segment_share of the customers, "
    "the smallest (outliers aside) at least max(min_segment_share of them, min_segment_size "
    "customers), and at most max_noise_share are outliers"
)


def segment_sizes(labels: np.ndarray) -> tuple[list[int], int]:
    """Customers per segment (largest first, outliers aside) and the number of outliers.

    Examples
    --------
    >>> segment_sizes(np.array([0, 1, 1, -1, 1, 0, 2]))
    ([3, 2, 1], 1)
    """
    labels = np.asarray(labels)
    noise = labels == NOISE_LABEL
    counts = np.bincount(labels[~noise]) if (~noise).any() else np.zeros(0, np.int64)
    return sorted((int(c) for c in counts if c > 0), reverse=True), int(noise.sum())


@dataclass(frozen=True)
class GuardrailCheck:
    """The outcome of the guardrails for one model.

    Attributes
    ----------
    failures : list of str
        One plain sentence per limit the model breaks (empty: usable).
    excess : float
        How far past the limits the model is, as a share of the customers (0 when usable):
        the sum over the broken limits of the share by which each is missed. Breaks ties
        between equally ranked models when none passes.
    """

    failures: list[str]
    excess: float

    @property
    def passed(self) -> bool:
        """True when no limit is broken."""
        return not self.failures


@dataclass(frozen=True)
class Guardrails:
    """The usability limits of one dataset (see the module docstring).

    Examples
    --------
    >>> rails = Guardrails()
    >>> rails.check([910, 55, 35], n_rows=1000).failures
    ['its largest segment holds 91% of the customers (at most 70% allowed)']
    >>> rails.check([400, 350, 250], n_rows=1000).passed
    True
    """

    max_segment_share: float = 0.70
    min_segment_share: float = 0.01
    min_segment_size: int = 10
    max_noise_share: float = 0.10

    @classmethod
    def from_config(cls, config: DatasetConfig) -> Guardrails:
        """The limits a dataset config sets.

        Examples
        --------
        >>> Guardrails.from_config(DatasetConfig(max_segment_share=0.8)).max_segment_share
        0.8
        """
        return cls(
            max_segment_share=config.max_segment_share,
            min_segment_share=config.min_segment_share,
            min_segment_size=config.min_segment_size,
            max_noise_share=config.max_noise_share,
        )

    def min_size(self, n_rows: int) -> int:
        """Fewest customers the smallest segment may hold in a table of ``n_rows``.

        Examples
        --------
        >>> Guardrails().min_size(200), Guardrails().min_size(9000)
        (10, 90)
        """
        return max(math.ceil(self.min_segment_share * n_rows - 1e-9), self.min_segment_size)

    def check(self, sizes: Sequence[int], *, n_rows: int) -> GuardrailCheck:
        """Check one model's segment sizes against the limits.

        Parameters
        ----------
        sizes : sequence of int
            Customers per segment, outliers aside.
        n_rows : int
            Every training customer, outliers included.
        """
        failures: list[str] = []
        excess = 0.0
        if not sizes or n_rows <= 0:
            return GuardrailCheck(failures=["it found no segment"], excess=1.0)
        total = max(n_rows, 1)
        largest = max(sizes) / total
        if largest > self.max_segment_share + 1e-12:
            failures.append(
                f"its largest segment holds {_share(largest)} of the customers "
                f"(at most {_share(self.max_segment_share)} allowed)"
            )
            excess += largest - self.max_segment_share
        smallest = min(sizes)
        needed = self.min_size(n_rows)
        if smallest < needed:
            failures.append(
                f"its smallest segment has only {smallest} customer{'s' if smallest != 1 else ''} "
                f"({_share(smallest / total)}; at least {needed} needed)"
            )
            excess += (needed - smallest) / total
        noise = (n_rows - sum(sizes)) / total
        if noise > self.max_noise_share + 1e-12:
            failures.append(
                f"it leaves {_share(noise)} of the customers unassigned as outliers "
                f"(at most {_share(self.max_noise_share)} allowed)"
            )
            excess += noise - self.max_noise_share
        return GuardrailCheck(failures=failures, excess=float(excess))

    def describe(self, n_rows: int) -> str:
        """The limits in one plain sentence.

        Examples
        --------
        >>> print(Guardrails().describe(200))  # doctest: +NORMALIZE_WHITESPACE
        largest segment at most 70% of customers, smallest at least 10 customers,
        at most 10% outliers
        """
        return (
            f"largest segment at most {_share(self.max_segment_share)} of customers, smallest at "
            f"least {self.min_size(n_rows)} customers, at most {_share(self.max_noise_share)} "
            "outliers"
        )


def _share(value: float) -> str:
    """A share as a percentage with the precision it needs.

    Examples
    --------
    >>> _share(0.7), _share(0.0042), _share(0.085)
    ('70%', '0.4%', '8.5%')
    """
    percent = value * 100
    if percent >= 10 or percent == round(percent):
        return f"{percent:.0f}%"
    return f"{percent:.1f}%"
