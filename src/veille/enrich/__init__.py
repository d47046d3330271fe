"""Enrichment: language, sentiment, threat and sensitive-information detectors.

:func:`analyze` is the single entry point; :class:`Detect` and :class:`Urgent` are the same
work as pipeline enrichment steps (``Urgent`` goes last).
"""

from veille.enrich.detect import Detect, Urgent, analyze

__all__ = ["Detect", "Urgent", "analyze"]
