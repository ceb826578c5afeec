"""Saved sessions: resume, continue, list."""
