"""The report of a dataset: streaming statistics, figures and one HTML page."""

from .page import make_report

__all__ = ["make_report"]
