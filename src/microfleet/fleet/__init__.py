"""The fleet at work: routing a question to micromodels, calling them as tools in parallel,
and composing their results into one answer."""
