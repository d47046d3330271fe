"""Enrichment: language, sentiment, threat and sensitive-information detectors."""
