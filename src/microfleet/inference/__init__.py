"""The inference pipeline: memory, cache, retrieval and generation behind the API and the CLI."""
