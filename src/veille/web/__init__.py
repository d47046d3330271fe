"""The analysts' workspace: JSON API and server-rendered dashboard."""
