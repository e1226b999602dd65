"""The words of a segment: names and descriptions a marketer reads.

:mod:`shared.engine.profiling` measures how a segment differs from everyone (the z of a numeric
feature, the over-representation of a category); this module turns those measurements into words.
It reads column names and category values only: no data, no lookup of particular datasets.

Rules (documented here once; the tests pin them):

- **Column words** (:func:`feature_word`): brackets are units, kept apart for descriptions
  (``Annual Income (k$)`` -> ``income`` and unit ``k$``); camelCase, PascalCase, ``snake_case``,
  dots and dashes split into words; an all-capitals name is lower-cased, acronyms inside a
  mixed-case name are kept (``customerLTV`` -> ``customer LTV``). Count prefixes are dropped
  (``Num``, ``Nb``, ``Cnt``, ``number of``: ``NumWebPurchases`` -> ``web purchases``) unless one
  noun is left (``NumOfProducts`` -> ``number of products``), ``Mnt``
  (amount spent) reads ``spending on`` (``MntWines`` -> ``spending on wines``), ``Pct``/``Prc``
  reads ``share of``, a trailing period after a plural reads ``per`` (``web visits per month``),
  and common abbreviations are spelled out (``trx`` -> ``transactions``, ``prods`` ->
  ``products``, ``avg`` -> ``average``, ``oneoff`` -> ``one-off``). Dates lose their date words
  (``Dt_Customer`` -> ``customer``, ``last_purchase_date`` -> ``last purchase``).
- **Numeric terms** by ``|z|``: below 0.25 nothing; 0.25-0.5 "slightly" (used only to tell
  clashing names apart); 0.5-0.75 above/below average; from 0.75 high/low; from 1.5 "very"
  (again only to tell clashing names apart). The column's kind picks the words: ages read
  "younger"/"older", birth years the reverse, durations (``tenure``) "long"/"short", dates and
  ``days since ...`` columns "recent"/"long-ago <event>", and the date a customer joined
  (``Dt_Customer``, ``signup_date``, ``first_purchase``) "new"/"long-standing" customers.
- **Category terms**: a category always carries its column, in one of these forms, chosen from
  the column name and its values alone:

  - yes/no columns (values yes/no, true/false, y/n, t/f, 1/0): something customers have reads
    "with partner" / "without dependents"; a kind of person (``SeniorCitizen``,
    ``IsActiveMember``) "senior citizens" / "not active members"; a state (``is_premium``, a
    participle as in ``Married``, ``Discount Applied``, ``AcceptedCmp1``) "premium" / "not
    married" / "no discount applied" / "accepted campaign 1";
  - a value that is itself a negation ("No internet service") reads on its own, lower-cased;
  - gender (male/female, ``M``/``F`` spelled out), marital status (married, single, divorced,
    widowed, separated, engaged) and nationality: the value alone ("female", "married"); other
    values of those columns take the general form ("other gender");
  - places (country, city, state, geography, ...): "in Germany";
  - numeric codes: "<column> <code>" ("channel 1");
  - otherwise "<value> <column>", the column without a trailing generic word (type, method,
    status, level, ...): "month-to-month contract", "fiber optic internet service",
    "electronic check payment", "gold membership"; when the value already shares its stem with
    the column ("Satisfied" in ``Satisfaction Level``) the value alone.

  Values keep their case when they look like names or acronyms ("DSL", "New York", "PhD") and
  lose a leading capital otherwise ("Fiber optic" -> "fiber optic"). The share of the segment in
  that category sets the quantifier: from 90 % none, from 50 % "mostly", below "often" ("many"
  for kinds of person).
- **Names**: the two most distinctive terms, adjectives first, then in column order ("Older, high
  credit score", "High income, low spending"); a term that repeats a content word already in the
  name is skipped for the next one (six service columns all saying "no internet service" give one
  term). A name made of adjectives only ends in "customers" ("Younger customers", "Older female
  customers", "Younger, mostly female customers"). A segment with no distinctive feature is
  "Average <f1>, average <f2>" over its two strongest numeric features.
- **Unique names**: names that say the same thing (the same features in the same directions, or
  the same categories, whatever their level words or quantifiers) each take the segment's next
  most distinctive term that the other clashing segments lack, then weaker ("slightly ...")
  terms. Names still equal (case-insensitive) then use finer words ("very high"), then the mean
  of the named feature that differs most between them ("Below-average x (mean 0)", "Average
  income, average spending (mean spending 48)"), then the segment's size; only segments equal in
  every one of those are numbered ("..., group 2"). Never a "#2" suffix.
- **Descriptions**: "<n> customers (<share>): <fact>, <fact> and <fact>." with up to three facts,
  each a descriptor with its evidence, in the column's unit: "younger (mean age 31 vs 41.5
  overall)", "high income (mean 88.2 k$ vs 60.6 k$ overall)", "high spending (mean 81.5 vs 50.2
  overall, scale 1-100)", "88% month-to-month contract (48% overall)".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DESCRIPTION_TERMS",
    "LEVEL_AVERAGE",
    "LEVEL_SLIGHT",
    "LEVEL_STRONG",
    "LEVEL_VERY",
    "NAME_TERMS",
    "ColumnWords",
    "Term",
    "average_name",
    "category_term",
    "column_words",
    "content_words",
    "describe",
    "feature_word",
    "format_number",
    "numeric_term",
    "unique_names",
]

LEVEL_SLIGHT = 0.25
"""From this strength a feature may tell two clashing names apart ("slightly ...")."""
LEVEL_AVERAGE = 0.5
"""Below this strength a feature is "average": not distinctive, not named."""
LEVEL_STRONG = 0.75
"""From this strength on a numeric feature is "high"/"low" (below it: above/below average)."""
LEVEL_VERY = 1.5
"""From this strength a clashing name may say "very high"/"very low"."""
NAME_TERMS = 2
DESCRIPTION_TERMS = 3
MOSTLY_SHARE = 0.5
"""From this share of the segment a category reads "mostly <value>"."""
ALL_SHARE = 0.9
"""From this share of the segment a category reads as the segment's trait, unqualified."""
_MAX_VALUE_CHARS = 30

ColumnKind = Literal[
    "plain", "age", "birth_year", "duration", "elapsed", "event", "joined", "categorical"
]
CategoryStyle = Literal["flag", "gender", "status", "trait", "place", "head"]
Grammar = Literal["adjective", "noun", "plural", "phrase"]


# --- column words ------------------------------------------------------------------------------

_BRACKETS = re.compile(r"\s*[(\[{]([^)\]}]*)[)\]}]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[a-z]{2})(?=\d)")
_SEPARATORS = re.compile(r"[\s_\-./]+")
_SCALE = re.compile(r"-?\d+(\.\d+)?\s*[-\u2013]\s*-?\d+(\.\d+)?")
_COUNT_PREFIXES = frozenset({"num", "nb", "nbr", "cnt", "n"})
_SHARE_PREFIXES = frozenset({"pct", "prc", "perc", "percent"})
_SPEND_PREFIXES = frozenset({"mnt"})
_PERIODS = frozenset({"day", "week", "month", "year"})
_ELAPSED_UNITS = frozenset({"days", "weeks", "months", "years", "hours"})
_EXPANSIONS = {
    "trx": "transactions",
    "txn": "transactions",
    "txns": "transactions",
    "prods": "products",
    "prod": "product",
    "qty": "quantity",
    "avg": "average",
    "freq": "frequency",
    "oneoff": "one-off",
    "yrs": "years",
    "mths": "months",
    "pmt": "payment",
    "pmts": "payments",
    "cmp": "campaign",
}
_COMMON_WORDS = {
    "annual income": "income",
    "yearly income": "income",
    "spending score": "spending",
    "spend": "spending",
}
_DATE_WORDS = frozenset({"dt", "date", "day", "time", "timestamp", "datetime", "at", "on", "of"})
_JOIN_WORDS = frozenset(
    {
        "customer",
        "client",
        "member",
        "membership",
        "subscriber",
        "subscription",
        "account",
        "enrollment",
        "enrolment",
        "registration",
        "signup",
        "join",
        "joined",
        "since",
        "first",
        "start",
        "opened",
    }
)
_PERSON_NOUNS = frozenset(
    {
        "citizen",
        "member",
        "customer",
        "client",
        "subscriber",
        "user",
        "owner",
        "holder",
        "employee",
        "student",
        "retiree",
        "senior",
        "parent",
        "homeowner",
        "veteran",
        "buyer",
        "shopper",
        "resident",
        "smoker",
        "driver",
    }
)
_GENERIC_HEADS = frozenset(
    {
        "type",
        "method",
        "status",
        "category",
        "class",
        "level",
        "group",
        "kind",
        "mode",
        "code",
        "name",
        "tier",
        "segment",
        "flag",
        "indicator",
        "cat",
    }
)
_PLACE_WORDS = frozenset(
    {"country", "city", "state", "province", "county", "geography", "location", "town"}
)
_GENDER_WORDS = frozenset({"gender", "sex"})
_GENDER_CODES = {
    "m": "male",
    "f": "female",
    "male": "male",
    "female": "female",
    "man": "male",
    "woman": "female",
}
_MARITAL_WORDS = frozenset(
    {"married", "single", "divorced", "widowed", "separated", "engaged", "unmarried"}
)
_TRUE_WORDS = frozenset({"yes", "true", "y", "t", "1"})
_FALSE_WORDS = frozenset({"no", "false", "n", "f", "0"})
_NEGATIONS = ("no ", "not ", "without ", "none ", "non ", "never ")
_QUANTIFIERS = frozenset({"mostly", "often", "many"})
_NUMERIC_CODE = re.compile(r"^-?\d+(\.\d+)?$")
_FUNCTION_WORDS = frozenset(
    {
        "a",
        "above-average",
        "an",
        "and",
        "average",
        "below-average",
        "customers",
        "high",
        "in",
        "less",
        "long",
        "long-ago",
        "long-standing",
        "longer",
        "longer-standing",
        "low",
        "many",
        "more",
        "mostly",
        "much",
        "new",
        "newer",
        "no",
        "not",
        "of",
        "often",
        "older",
        "on",
        "per",
        "recent",
        "short",
        "shorter",
        "slightly",
        "somewhat",
        "the",
        "typical",
        "very",
        "with",
        "without",
        "younger",
    }
)
_GENERIC_WORDS = frozenset(
    {"service", "services", "score", "total", "amount", "number", "count", "rate", "value"}
)
"""Words too generic to make two terms repeat each other ("phone service", "internet service")."""


def _split(name: str) -> tuple[list[str], str | None]:
    """Words of a column name (lower-case except acronyms) and its unit in brackets."""
    units = [u.strip() for u in _BRACKETS.findall(name) if u.strip()]
    text = _BRACKETS.sub(" ", name)
    all_caps = not any(c.islower() for c in text)
    if not all_caps:
        text = _CAMEL.sub(" ", text)
    words = []
    for token in _SEPARATORS.split(text):
        if not token:
            continue
        acronym = not all_caps and len(token) >= 2 and token.isalpha() and token.isupper()
        words.append(token if acronym else token.lower())
    return words, (units[-1] if units else None)


def _expand(words: list[str], *, date: bool) -> list[str]:
    """Spell out abbreviations and prefixes (see the module rules)."""
    words = [_EXPANSIONS.get(w, w) for w in words]
    if date:
        while len(words) > 1 and words[0] in _DATE_WORDS:
            words = words[1:]
        while len(words) > 1 and words[-1] in _DATE_WORDS:
            words = words[:-1]
        return words
    original = list(words)
    if len(words) > 2 and words[:2] == ["number", "of"]:
        words = words[2:]
    elif len(words) > 1 and words[0] in _COUNT_PREFIXES | {"no"}:
        if words[1] == "of" and len(words) > 2:
            words = words[2:]
        elif words[0] != "no":
            words = words[1:]
    if len(words) == 1 and len(original) > 1:  # "NumOfProducts": a count of one noun
        words = ["number", "of", *words]
    if len(words) > 1 and words[0] in _SPEND_PREFIXES:
        words = ["spending", "on", *words[1:]]
    elif len(words) > 1 and words[0] in _SHARE_PREFIXES:
        words = ["share", "of", *words[1:]]
    if len(words) > 2 and words[-1] in _PERIODS and words[-2].endswith("s"):
        words = [*words[:-1], "per", words[-1]]
    return words


def feature_word(name: str, *, date: bool = False) -> str:
    """A readable word for a column, as used in segment names.

    Units in brackets are left out (see :func:`column_words` for them), words are split and
    abbreviations spelled out as the module rules say.

    Examples
    --------
    >>> feature_word("Annual Income (k$)"), feature_word("Spending Score (1-100)")
    ('income', 'spending')
    >>> feature_word("PURCHASES_FREQUENCY"), feature_word("lastPurchaseDate", date=True)
    ('purchases frequency', 'last purchase')
    >>> feature_word("MntGoldProds"), feature_word("NumWebVisitsMonth")
    ('spending on gold products', 'web visits per month')
    """
    words, _ = _split(name)
    text = " ".join(_expand(words, date=date))
    text = _COMMON_WORDS.get(text, text)
    return text or " ".join(name.lower().split()) or name


@dataclass(frozen=True)
class ColumnWords:
    """How one column reads in names and descriptions.

    Examples
    --------
    >>> w = column_words("Annual Income (k$)", "numeric")
    >>> (w.word, w.unit, w.kind)
    ('income', 'k$', 'plain')
    >>> column_words("Year_Birth", "numeric").kind
    'birth_year'
    """

    name: str
    word: str
    kind: ColumnKind
    unit: str | None = None
    scale: bool = False
    style: CategoryStyle = "head"
    head: str = ""

    def number(self, value: float) -> str:
        """``value`` formatted with the column's unit ("88.2 k$", "45%", "1980")."""
        if "year" in self.word.split() and 1000 <= abs(value) < 10000:
            text = f"{value:.0f}"
        else:
            text = format_number(value)
        if self.unit is None or self.scale:
            return text
        if self.unit == "%":
            return f"{text}%"
        if self.unit in {"$", "€", "£"}:
            return f"{self.unit}{text}"
        return f"{text} {self.unit}"


def column_words(
    name: str, role: str, categories: Sequence[str] = (), *, word: str | None = None
) -> ColumnWords:
    """How the column ``name`` of ``role`` (numeric, date, categorical) reads.

    Parameters
    ----------
    name : str
        The column as uploaded.
    role : str
        ``numeric``, ``date`` or ``categorical``.
    categories : sequence of str
        A categorical column's values (decides whether it is a yes/no flag).
    word : str, optional
        The word to use instead of :func:`feature_word`'s (to keep two columns apart).

    Examples
    --------
    >>> column_words("Partner", "categorical", ["Yes", "No"]).style
    'flag'
    >>> column_words("PaymentMethod", "categorical", ["Mailed check"]).head
    'payment'
    """
    _, unit = _split(name)
    date = role == "date"
    text = word if word is not None else feature_word(name, date=date)
    tokens = text.split()
    scale = bool(unit and _SCALE.fullmatch(unit))
    if role == "categorical":
        style, head = _category_style(tokens, categories)
        return ColumnWords(name, text, "categorical", unit, scale, style, head)
    kind: ColumnKind = "plain"
    if date:
        joined = bool(tokens) and (tokens[-1] in _JOIN_WORDS or tokens[0] in _JOIN_WORDS)
        kind = "joined" if joined else "event"
    elif ("birth" in tokens and "year" in tokens) or text in {"yob", "birthyear"}:
        kind, text = "birth_year", "year of birth"
    elif tokens and tokens[-1] == "age":
        kind = "age"
    elif tokens and tokens[-1] in {"tenure", "duration"}:
        kind = "duration"
    elif len(tokens) > 2 and tokens[0] in _ELAPSED_UNITS and tokens[1] == "since":
        kind = "elapsed"
    return ColumnWords(name, text, kind, unit, scale)


def _category_style(tokens: list[str], categories: Sequence[str]) -> tuple[CategoryStyle, str]:
    values = {c.strip().lower() for c in categories if not c.startswith("(")}
    plain_values = {v for v in values if not _is_negation(v)}
    if plain_values and plain_values <= _TRUE_WORDS | _FALSE_WORDS and len(plain_values) <= 2:
        return "flag", " ".join(tokens)
    last = tokens[-1].lower() if tokens else ""
    if last in _GENDER_WORDS:
        return "gender", last
    if "marital" in tokens or tokens[-2:] in (["civil", "status"], ["relationship", "status"]):
        return "status", "marital status" if "marital" in tokens else " ".join(tokens[-2:])
    if last in _PLACE_WORDS:
        return "place", " ".join(tokens)
    if last == "nationality":
        return "trait", last
    head = list(tokens)
    while len(head) > 1 and head[-1].lower() in _GENERIC_HEADS:
        head = head[:-1]
    return "head", " ".join(head)


# --- terms -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """How one feature sets a segment apart, in words.

    ``text`` is what a name shows ("high income"), ``fine`` the same with finer levels ("very
    high income"), ``detail`` what the description shows, with its evidence. ``adjective`` terms
    describe the customer ("younger", "mostly female") and take the noun "customers" when a name
    has nothing else. ``mean`` is the segment's mean or share in words ("mean 88.2 k$", "88%"),
    ``mean_named`` the same naming its feature ("mean income 88.2 k$", "88% gold membership"),
    for the last resort of telling two names apart.
    """

    feature: str
    order: int  # column order, for showing terms consistently across segments
    strength: float  # |z| (numeric) or the top category's deviation (categorical)
    text: str
    detail: str
    fine: str = ""
    adjective: Literal["", "age", "trait"] = ""
    mean: str = ""
    mean_named: str = ""
    word: str = ""
    """The column word of a numeric term ("age" for "older"); empty for a category."""
    z: float = 0.0
    keys: frozenset[str] = frozenset()
    """Content words: a name never shows two terms that share one."""
    sign: str = ""
    """Direction ("+"/"-") or category: names whose terms agree on feature and sign clash."""

    @property
    def distinctive(self) -> bool:
        """Strong enough to be named on its own (strength >= :data:`LEVEL_AVERAGE`)."""
        return self.strength >= LEVEL_AVERAGE


def format_number(value: float) -> str:
    """Compact human formatting: 3 significant digits, thousands separators.

    Examples
    --------
    >>> format_number(88.24), format_number(1459.5), format_number(0.0784), format_number(21.0)
    ('88.2', '1,460', '0.0784', '21')
    """
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
    return f"{value:.3g}"


def _band(strength: float, *, fine: bool) -> int:
    """0 nothing, 1 slight, 2 above/below average, 3 high/low, 4 very (``fine`` only)."""
    if strength < LEVEL_SLIGHT:
        return 0
    if strength < LEVEL_AVERAGE:
        return 1
    if strength < LEVEL_STRONG:
        return 2
    return 4 if fine and strength >= LEVEL_VERY else 3


# Words per band (1 slight .. 4 very) and direction, by kind; "{w}" is the column word.
_NUMERIC_WORDS: dict[str, dict[bool, tuple[str, str, str, str]]] = {
    "plain": {
        True: (
            "slightly above-average {w}",
            "above-average {w}",
            "high {w}",
            "very high {w}",
        ),
        False: (
            "slightly below-average {w}",
            "below-average {w}",
            "low {w}",
            "very low {w}",
        ),
    },
    "age": {
        True: ("slightly older", "somewhat older", "older", "much older"),
        False: ("slightly younger", "somewhat younger", "younger", "much younger"),
    },
    "duration": {
        True: ("slightly longer {w}", "longer {w}", "long {w}", "very long {w}"),
        False: ("slightly shorter {w}", "shorter {w}", "short {w}", "very short {w}"),
    },
    "event": {  # the value is an age in days: higher means longer ago
        True: (
            "slightly less recent {w}",
            "less recent {w}",
            "long-ago {w}",
            "very long-ago {w}",
        ),
        False: (
            "slightly more recent {w}",
            "more recent {w}",
            "recent {w}",
            "very recent {w}",
        ),
    },
    "joined": {
        True: (
            "slightly longer-standing",
            "longer-standing",
            "long-standing",
            "very long-standing",
        ),
        False: ("slightly newer", "newer", "new", "very new"),
    },
}
_ADJECTIVE_KINDS = frozenset({"age", "birth_year", "joined"})


def _numeric_text(words: ColumnWords, z: float, band: int) -> str:
    if band == 0:
        return _average_words(words.word)
    kind = words.kind
    up = z > 0
    if kind == "birth_year":  # born later: younger
        kind, up = "age", not up
    elif kind == "elapsed":
        kind = "event"
    table = _NUMERIC_WORDS.get(kind, _NUMERIC_WORDS["plain"])
    word = words.word
    if kind == "event" and words.kind == "elapsed":
        word = " ".join(word.split()[2:])  # "days since last purchase" -> "last purchase"
    return table[up][band - 1].format(w=word)


def numeric_term(
    words: ColumnWords,
    order: int,
    z: float,
    mean: float,
    overall: float,
    *,
    minimum: float = LEVEL_SLIGHT,
) -> Term | None:
    """The term of a numeric or date feature whose segment mean sits ``z`` std from everyone's.

    Returns None when ``|z| < minimum``; below :data:`LEVEL_SLIGHT` the term reads "average
    <word>" (``minimum=0`` gives the terms of an average name, see :func:`unique_names`).

    Examples
    --------
    >>> income = column_words("Annual Income (k$)", "numeric")
    >>> t = numeric_term(income, 0, 1.2, 88.2, 60.56)
    >>> t.text, t.detail
    ('high income', 'high income (mean 88.2 k$ vs 60.6 k$ overall)')
    >>> numeric_term(column_words("Age", "numeric"), 0, -0.8, 31.0, 41.5).detail
    'younger (mean age 31 vs 41.5 overall)'
    """
    if abs(z) < minimum:
        return None
    band = _band(abs(z), fine=False)
    text = _numeric_text(words, z, band)
    fine = _numeric_text(words, z, _band(abs(z), fine=True))
    if words.kind in {"event", "joined"}:
        evidence = (
            f"mean {format_number(mean)} days before the latest {words.word} date, "
            f"vs {format_number(overall)} overall"
        )
    elif words.kind == "elapsed":  # "days since last purchase": the unit is its first word
        unit = words.word.split()[0]
        evidence = f"mean {format_number(mean)} {unit} vs {format_number(overall)} overall"
    else:
        shown = "" if words.word in text else f" {words.word}"
        evidence = f"mean{shown} {words.number(mean)} vs {words.number(overall)} overall"
        if words.scale:
            evidence += f", scale {words.unit}"
    return Term(
        feature=words.name,
        order=order,
        strength=abs(z),
        text=text,
        detail=f"{text} ({evidence})",
        fine=fine,
        adjective="age" if words.kind in _ADJECTIVE_KINDS else "",
        mean=f"mean {words.number(mean)}",
        mean_named=f"mean {words.word} {words.number(mean)}",
        word=words.word,
        z=z,
        sign="+" if z > 0 else "-",
        keys=content_words(text)
        or frozenset({"age" if words.kind == "birth_year" else words.kind}),
    )


def _is_negation(value: str) -> bool:
    return value.lower().startswith(_NEGATIONS) and len(value.split()) >= 2


def _lower_first(value: str) -> str:
    """Drop a leading capital unless the value looks like a name or an acronym."""
    if value[:1].isupper() and not any(c.isupper() for c in value[1:]):
        return value[:1].lower() + value[1:]
    return value


def _plural(phrase: str) -> str:
    head, _, last = phrase.rpartition(" ")
    if last.endswith(("s", "x", "ch", "sh")):
        last += "es" if not last.endswith("s") else ""
    elif last.endswith("y") and last[-2:-1] not in set("aeiou"):
        last = last[:-1] + "ies"
    else:
        last += "s"
    return f"{head} {last}".strip()


def _shares_stem(value: str, head: str) -> bool:
    """True when a word of ``value`` contains the stem of a word of ``head``."""
    value_words = [w.lower() for w in re.findall(r"[A-Za-z]+", value)]
    for word in head.lower().split():
        stem = word[:5] if len(word) >= 5 else word
        if len(stem) >= 4 and any(stem in v for v in value_words):
            return True
    return False


def _flag_phrase(words: ColumnWords, positive: bool) -> tuple[str, Grammar]:
    """A yes/no column's value: a kind of person, a state, or something customers have."""
    tokens = words.head.split()
    lowered = [t.lower() for t in tokens]
    if len(tokens) > 1 and lowered[0] in {"is", "are", "was"}:
        tokens, lowered = tokens[1:], lowered[1:]
        if lowered[-1] not in _PERSON_NOUNS:  # "is_premium": a state
            core = " ".join(tokens)
            return (core, "adjective") if positive else (f"not {core}", "adjective")
    elif len(tokens) > 1 and lowered[0] in {"has", "have", "had", "with", "uses"}:
        core = " ".join(tokens[1:])
        return (f"with {core}", "phrase") if positive else (f"without {core}", "phrase")
    core = " ".join(tokens)
    if lowered and lowered[-1] in _PERSON_NOUNS:  # "SeniorCitizen": a kind of person
        return (_plural(core), "plural") if positive else (f"not {_plural(core)}", "phrase")
    participle = [i for i, t in enumerate(lowered) if len(t) > 4 and t.endswith("ed")]
    if participle:  # "Married", "Churned", "AcceptedCmp1", "Discount Applied": a state
        if len(tokens) == 1:
            return (core, "adjective") if positive else (f"not {core}", "adjective")
        if participle[-1] == len(tokens) - 1:
            return (core, "phrase") if positive else (f"no {core}", "phrase")
        return (core, "phrase") if positive else (f"not {core}", "phrase")
    return (f"with {core}", "phrase") if positive else (f"without {core}", "phrase")


def _category_phrase(words: ColumnWords, value: str) -> tuple[str, Grammar]:
    """The category ``value`` of the column, carrying its column (see the module rules)."""
    shown = " ".join(value.split())
    if len(shown) > _MAX_VALUE_CHARS:
        shown = shown[: _MAX_VALUE_CHARS - 1] + "…"
    lowered = shown.lower()
    if words.style == "flag" and lowered in _TRUE_WORDS | _FALSE_WORDS:
        return _flag_phrase(words, lowered in _TRUE_WORDS)
    if _is_negation(shown):
        return lowered, "phrase"
    if not shown:
        return f"blank {words.word}", "noun"
    if words.style == "gender" and lowered in _GENDER_CODES:
        return _GENDER_CODES[lowered], "adjective"
    if _NUMERIC_CODE.match(shown) or len(shown) == 1:
        return f"{words.word} {shown}", "noun"
    if words.style == "trait":  # nationalities keep their capital
        return shown, "adjective"
    if words.style == "status" and lowered in _MARITAL_WORDS:
        return lowered, "adjective"
    if words.style == "place":
        return f"in {shown}", "phrase"
    value_text = _lower_first(shown)
    if _shares_stem(value_text, words.head) or not words.head:
        return value_text, "noun"
    return f"{value_text} {words.head}", "noun"


def category_term(
    words: ColumnWords, order: int, value: str, share: float, overall: float, strength: float
) -> Term:
    """The term of a categorical feature whose category ``value`` is over-represented.

    ``share`` is the segment's share in the category, ``overall`` everyone's, ``strength`` the
    categorical deviation.

    Examples
    --------
    >>> contract = column_words("Contract", "categorical", ["Month-to-month", "Two year"])
    >>> t = category_term(contract, 0, "Month-to-month", 0.88, 0.48, 0.8)
    >>> t.text, t.detail
    ('mostly month-to-month contract', '88% month-to-month contract (48% overall)')
    >>> partner = column_words("Partner", "categorical", ["Yes", "No"])
    >>> category_term(partner, 1, "No", 0.95, 0.5, 0.9).text
    'without partner'
    """
    phrase, grammar = _category_phrase(words, value)
    if share >= ALL_SHARE:
        text = phrase
    elif share >= MOSTLY_SHARE:
        text = f"mostly {phrase}"
    else:
        text = f"{'many' if grammar == 'plural' else 'often'} {phrase}"
    return Term(
        feature=words.name,
        order=order,
        strength=strength,
        text=text,
        detail=f"{share:.0%} {phrase} ({overall:.0%} overall)",
        fine=text,
        adjective="trait" if grammar == "adjective" else "",
        mean=f"{share:.0%}",
        mean_named=f"{share:.0%} {phrase}",
        z=share,
        sign=value,
        keys=content_words(phrase) or frozenset({phrase.lower()}),
    )


# --- names -------------------------------------------------------------------------------------


def content_words(text: str) -> frozenset[str]:
    """The words of a term that carry its meaning (levels, quantifiers and generic words aside).

    Examples
    --------
    >>> sorted(content_words("mostly no internet service"))
    ['internet']
    """
    words = re.findall(r"[\w$%'-]+", text.lower())
    return frozenset(w for w in words if w not in _FUNCTION_WORDS | _GENERIC_WORDS)


def _compose(terms: Sequence[Term], *, fine: bool = False) -> str:
    # Adjectives describe the customer, so they lead ("Older, high credit score"); the rest
    # follow column order, so that segments of one model read alike.
    shown = sorted(terms, key=lambda t: (not t.adjective, t.order))
    texts = [(t.fine or t.text) if fine else t.text for t in shown]
    if shown and all(t.adjective for t in shown):
        kinds = [t.adjective for t in shown]
        quantified = any(x.split(" ", 1)[0] in _QUANTIFIERS for x in texts)
        if len(shown) == 2 and sorted(kinds) == ["age", "trait"] and not quantified:
            # adjectives stack before the noun, age first: "older female customers"
            texts = [texts[kinds.index("age")] + " " + texts[kinds.index("trait")]]
        text = ", ".join(texts) + " customers"
    else:
        text = ", ".join(texts)
    return text[:1].upper() + text[1:]


def average_name(features: Sequence[tuple[int, str, float]]) -> str:
    """Name of a segment close to the average on every feature.

    ``features`` are ``(column order, word, z)`` of its numeric features; the two with the
    largest ``|z|`` are named, in column order.

    Examples
    --------
    >>> average_name([(0, "income", 0.1), (1, "spending", -0.2), (2, "age", 0.05)])
    'Average income, average spending'
    >>> average_name([])
    'Typical customers'
    """
    ranked = sorted(features, key=lambda f: (-abs(f[2]), f[0]))[:NAME_TERMS]
    if not ranked:
        return "Typical customers"
    text = ", ".join(_average_words(word) for _, word, _ in sorted(ranked))
    return text[:1].upper() + text[1:]


def _average_words(word: str) -> str:
    return f"typical {word}" if word.startswith("average") else f"average {word}"


class _Namer:
    """The name of one segment, grown term by term."""

    def __init__(self, terms: Sequence[Term], baseline: Sequence[Term]) -> None:
        self.candidates = list(terms)  # strongest first
        named = sorted(baseline, key=lambda t: (-abs(t.z), t.order))[:NAME_TERMS]
        self.baseline = sorted(named, key=lambda t: t.order)  # what an average name names
        self.average = average_name([(t.order, t.word, t.z) for t in self.baseline])
        self.chosen: list[Term] = []
        self.next = 0
        self.fine = False
        self.suffix = ""
        for _ in range(NAME_TERMS):
            if not self._take(distinctive_only=True):
                break

    def _take(
        self, *, distinctive_only: bool, common: frozenset[tuple[str, str]] = frozenset()
    ) -> bool:
        """Add the next candidate that repeats no content word of the name and is not one of
        the ``common`` (feature, sign) pairs; False if there is none."""
        used = frozenset().union(*(t.keys for t in self.chosen))
        while self.next < len(self.candidates):
            term = self.candidates[self.next]
            if distinctive_only and not term.distinctive:
                return False
            self.next += 1
            if not term.keys & used and (term.feature, term.sign) not in common:
                self.chosen.append(term)
                return True
        return False

    def grow(self, common: frozenset[tuple[str, str]]) -> bool:
        return self._take(distinctive_only=False, common=common)

    @property
    def pairs(self) -> frozenset[tuple[str, str]]:
        """(feature, sign) of every candidate term."""
        return frozenset((t.feature, t.sign) for t in self.candidates)

    @property
    def signature(self) -> str:
        """What the name says, levels and quantifiers aside ("High x" and "Above-average x"
        say the same thing)."""
        if not self.chosen:
            return self.average.casefold()
        return "\n".join(sorted(f"{t.feature}\t{t.sign}" for t in self.chosen))

    @property
    def name(self) -> str:
        base = _compose(self.chosen, fine=self.fine) if self.chosen else self.average
        return base + self.suffix


def unique_names(
    terms: Sequence[Sequence[Term]], baselines: Sequence[Sequence[Term]], sizes: Sequence[int]
) -> list[str]:
    """One name per segment (in segment order), unique within the model (case-insensitive).

    Parameters
    ----------
    terms : sequence of sequence of Term
        Per segment, its terms strongest first (weak ones included: they may tell clashing
        names apart).
    baselines : sequence of sequence of Term
        Per segment, the term of every numeric feature whatever its strength
        (:func:`numeric_term` with ``minimum=0``): a segment with no distinctive term is named
        "Average <f1>, average <f2>" after the two with the largest ``|z|``.
    sizes : sequence of int
        Per segment, its number of customers (the last resort).

    Examples
    --------
    >>> x = column_words("x", "numeric")
    >>> a = [numeric_term(x, 0, -0.74, 0.0, 3.3)]
    >>> b = [numeric_term(x, 0, -0.52, 1.0, 3.3)]
    >>> unique_names([a, b], [a, b], [4, 3])
    ['Below-average x (mean 0)', 'Below-average x (mean 1)']
    >>> c = [numeric_term(x, 0, 0.1, 3.6, 3.3, minimum=0)]
    >>> unique_names([[], []], [c, b], [4, 3])
    ['Average x (mean 3.6)', 'Average x (mean 1)']
    """
    namers = [_Namer(t, b) for t, b in zip(terms, baselines, strict=True)]
    while True:  # lengthen names that say the same thing while any can take one more term
        grown = False
        for group in _clash_groups([n.signature for n in namers]):
            for i in group:  # the next term that some other member of the group lacks
                others = [namers[j].pairs for j in group if j != i]
                common = frozenset.intersection(*others) & namers[i].pairs
                grown = namers[i].grow(common) or grown
        if not grown:
            break
    for i in _clashes([n.name for n in namers]):  # finer words: "very high", "slightly"
        namers[i].fine = True
    for group in _clash_groups([n.name for n in namers]):
        _tell_apart_by_mean(namers, group)
    for group in _clash_groups([n.name for n in namers]):
        for i in group:
            namers[i].suffix += f" ({sizes[i]:,} customer{'s' if sizes[i] != 1 else ''})"
    for group in _clash_groups([n.name for n in namers]):  # identical in every respect
        for rank, i in enumerate(group, start=1):
            namers[i].suffix += f", group {rank}"
    return [n.name for n in namers]


def _tell_apart_by_mean(namers: list[_Namer], group: list[int]) -> None:
    """Show the mean of the named feature on which the clashing segments differ most."""
    named = {i: namers[i].chosen or namers[i].baseline for i in group}
    features = [t.feature for t in named[group[0]]]
    best: tuple[float, str] | None = None
    for feature in features:
        found = [next((t for t in named[i] if t.feature == feature), None) for i in group]
        by_segment = [t for t in found if t is not None]
        if len(by_segment) < len(group) or len({t.mean for t in by_segment}) < len(group):
            continue
        spread = max(t.z for t in by_segment) - min(t.z for t in by_segment)
        if best is None or spread > best[0]:
            best = (spread, feature)
    if best is None:
        return
    for i in group:
        namer = namers[i]
        term = next(t for t in named[i] if t.feature == best[1])
        obvious = len(named[i]) == 1 and term.word in term.text  # "High x (mean 0)"
        namer.suffix += f" ({term.mean if obvious else term.mean_named})"


def _clashes(names: list[str]) -> list[int]:
    return [i for group in _clash_groups(names) for i in group]


def _clash_groups(names: list[str]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name.casefold(), []).append(i)
    return [g for g in groups.values() if len(g) > 1]


# --- descriptions ------------------------------------------------------------------------------


def describe(size: int, share: float, terms: Sequence[Term], *, is_outlier: bool) -> str:
    """One sentence: who is in the segment and what sets it apart.

    ``terms`` are the segment's distinctive terms, strongest first; the first
    :data:`DESCRIPTION_TERMS` that do not repeat an earlier one are shown.

    Examples
    --------
    >>> age = column_words("Age", "numeric")
    >>> describe(2, 0.5, [numeric_term(age, 0, -1.2, 21.0, 41.0)], is_outlier=False)
    '2 customers (50.0%): younger (mean age 21 vs 41 overall).'
    """
    who = f"{size:,} customer{'s' if size != 1 else ''} ({share:.1%})"
    details: list[str] = []
    said: list[frozenset[str]] = []
    for term in terms:
        words = term.keys
        if any(words <= before for before in said):
            continue  # the same fact again (six columns saying "no internet service")
        said.append(words)
        details.append(term.detail)
        if len(details) == DESCRIPTION_TERMS:
            break
    if is_outlier:
        verb = "lies" if size == 1 else "lie"
        tail = f": {_join(details)}" if details else ""
        return f"{who} that {verb} outside every dense segment (DBSCAN noise){tail}."
    if not details:
        return f"{who} close to the overall average on every feature."
    return f"{who}: {_join(details)}."


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
