"""Sources: where raw payloads come from (files, stdin, HTTP ingest, the live networks)."""
