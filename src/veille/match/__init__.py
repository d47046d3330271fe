"""The compiled matcher: literal prefilter, candidate rules, exact boolean check."""
