"""Shared types and process plumbing every layer may use: what a search returns and how it
is narrowed (hits.py), and the CPU thread pool a serving process reserves (threads.py)."""
