"""The store: the only place that talks SQL (SQLite by default, PostgreSQL to scale)."""
