"""Build a dataset: the driver (pre-flight, resume, finish), the worker side (one shard) and the engines."""

from .driver import BuildSummary, build
from .estimate import Estimate
from .interrupt import StopFlag, sigint_stops

__all__ = ["BuildSummary", "Estimate", "StopFlag", "build", "sigint_stops"]
