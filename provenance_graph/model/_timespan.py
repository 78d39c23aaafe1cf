"""`Timespan`: a half-open interval of time, for observations and calibration validity ranges.

Times are TAI, written as ISO-8601 without a time zone (``2024-03-01T03:00:00``), as
Butler's ``certify-calibrations --begin-date`` takes them; a time with a zone or offset is
refused rather than converted, since TAI is no zone. They are kept as naive `datetime`
values. A timespan includes its beginning and excludes its end, as Butler's does; either
end may be missing, which means unbounded.

`format_time` gives the one text form stored in the repository's registry (microseconds
always written), so that texts compare as the times do.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, model_validator

from provenance_graph.errors import ModelError

__all__ = ["Timespan", "format_time", "parse_time"]

_TIME_HINT = "write an ISO-8601 TAI time without a time zone, e.g. 2024-03-01T03:00:00 or 2024-03-01"


def parse_time(value: object, what: str) -> datetime:
    """A TAI time from ISO-8601 text, a `datetime` or a `date` (its midnight).

    Parameters
    ----------
    value
        The time as written.
    what
        What it is, for messages (e.g. ``"--begin-date"``).

    Raises
    ------
    ModelError
        It is not ISO-8601, or has a time zone.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ModelError(f"{what} {value!r} is not an ISO-8601 time", hint=_TIME_HINT) from None
    else:
        raise ModelError(f"{what} must be an ISO-8601 time, not {value!r}", hint=_TIME_HINT)
    if parsed.tzinfo is not None:
        raise ModelError(
            f"{what} {str(value)!r} has a time zone; times are TAI, which has none", hint=_TIME_HINT
        )
    return parsed


def format_time(time: datetime) -> str:
    """The stored text of a time: ISO-8601 with microseconds, e.g. ``2024-03-01T03:00:00.000000``."""
    return time.isoformat(timespec="microseconds")


class Timespan(BaseModel):
    """The times from ``begin`` (included) to ``end`` (excluded); None is unbounded on that side."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    begin: datetime | None = None
    """The first instant (TAI), or None for "since always"."""
    end: datetime | None = None
    """The first instant after it (TAI), or None for "forever"."""

    @model_validator(mode="after")
    def _check(self) -> Timespan:
        for name, time in (("begin", self.begin), ("end", self.end)):
            if time is not None and time.tzinfo is not None:
                raise ModelError(f"timespan {name} {time} has a time zone; times are TAI", hint=_TIME_HINT)
        if self.begin is not None and self.end is not None and self.end < self.begin:
            raise ModelError(f"timespan ends before it begins: {self}", hint="give the earlier time first")
        return self

    def contains(self, time: datetime) -> bool:
        """Whether ``time`` lies in the span (its beginning counts, its end does not)."""
        return (self.begin is None or self.begin <= time) and (self.end is None or time < self.end)

    def overlaps(self, other: Timespan) -> bool:
        """Whether the two spans share an instant."""
        return (self.begin is None or other.end is None or self.begin < other.end) and (
            other.begin is None or self.end is None or other.begin < self.end
        )

    def __str__(self) -> str:
        begin = "-inf" if self.begin is None else self.begin.isoformat()
        end = "+inf" if self.end is None else self.end.isoformat()
        return f"[{begin}, {end})"
