"""The feature pipeline: sources -> parse/clean -> chunk -> embed -> upsert, as a Bytewax dataflow."""
