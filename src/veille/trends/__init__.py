"""Temperature: time buckets, spikes and reports."""
