"""veille: a social-media watch and early-warning system."""

__version__ = "0.1.0"
