"""The feature pipeline: sources, parse/clean, chunk, embed, upsert; run as a Bytewax dataflow."""
