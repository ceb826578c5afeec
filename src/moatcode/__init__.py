"""Moat: a coding agent whose every action is checked, confined and recorded."""
