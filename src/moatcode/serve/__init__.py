"""serve: Moat serving a model to others (moat serve-model)."""
