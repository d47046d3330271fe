"""Normalisation: raw payloads into Posts, and the text folding shared by rules and detectors."""
