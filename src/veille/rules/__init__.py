"""Watch rules: the query language, rule files, validation and explanation."""
