"""Undo snapshots of the workspace, kept as git trees outside the user's repository."""
