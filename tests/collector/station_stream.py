"""The reliability tests' station stream; it lives in quantrac/bench/stream.py, which
`quantrac bench reliability` shares."""

from quantrac.bench.stream import PARAMS, StationStream

__all__ = ["PARAMS", "StationStream"]
