"""Settings: the files, their layers and locks, and the values the rest of Moat reads."""
