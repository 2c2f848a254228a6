"""PostgreSQL's interval input, written as DataFusion reads it.

PostgreSQL reads `'1 day 04:05:06'`, `'04:05'`, `'-1 days +02:00:00'` (its own output),
`'@ 1 day ago'` and ISO 8601's `'P1Y2M3DT4H5M6.5S'` (what the HTTP API answers intervals as).
DataFusion reads only `<number> <unit>` pairs: it refused the clock and ISO 8601 forms, and
sqlglot kept only the first pair of a string it could not split (`'1 day 04:05:06'` became
`'1 DAY'`: four hours silently lost). Each form is rewritten into the pairs it means; text of
any other form is left to DataFusion (which reads it or refuses it, never another value).
"""

from __future__ import annotations

import re

CLOCK = re.compile(r"(?<![\w.])([+-]?)(\d+):(\d+)(?::(\d+(?:\.\d*)?))?(?![\w:])")
PAIR = r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-zA-Z]+)\s*"
PAIRS = re.compile(rf"(?:{PAIR})+")
AGO = re.compile(r"\s+ago\s*$", re.IGNORECASE)
NUMBER = r"([+-]?\d+(?:\.\d+)?)"
ISO = re.compile(
    rf"P(?:{NUMBER}Y)?(?:{NUMBER}M)?(?:{NUMBER}W)?(?:{NUMBER}D)?"
    rf"(?:T(?:{NUMBER}H)?(?:{NUMBER}M)?(?:{NUMBER}S)?)?",
    re.IGNORECASE,
)
ISO_UNITS = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")


def datafusion_text(text: str) -> str:
    """`text` (an interval's input) as the `<number> <unit>` pairs DataFusion reads; unchanged
    when it is of no form this knows or already such pairs."""
    body = text.strip()
    iso = ISO.fullmatch(body)
    if iso is not None and body.upper() not in ("P", "PT"):
        pairs = [(value, unit) for value, unit in zip(iso.groups(), ISO_UNITS, strict=True)]
        return " ".join(f"{value} {unit}" for value, unit in pairs if value is not None)
    ago = AGO.search(body)
    bare = body.removeprefix("@")
    if ago is not None:
        bare = bare[: ago.start() - (len(body) - len(bare))]
    spelled = CLOCK.sub(_clock, bare)
    if (spelled == bare and bare == body) or not PAIRS.fullmatch(spelled):
        return text
    pairs = re.findall(PAIR, spelled)
    return " ".join(f"{_negated(value) if ago else value} {unit}" for value, unit in pairs)


def _clock(match: re.Match[str]) -> str:
    sign, hours, minutes, seconds = match.groups()
    whole, _, fraction = (seconds or "0").partition(".")
    parts = [(int(hours), ""), (int(minutes), ""), (int(whole), fraction.rstrip("0"))]
    sign = "-" if sign == "-" else ""
    return " ".join(
        f"{sign}{value}{'.' + decimals if decimals else ''} {unit}"
        for (value, decimals), unit in zip(parts, ("hours", "minutes", "seconds"), strict=True)
    )


def _negated(value: str) -> str:
    if value.startswith("-"):
        return value[1:]
    return "-" + value.removeprefix("+")
