"""The micromodel contract, shared by every pipeline: a fleet's specs, and the prompt and
context a micromodel is trained, evaluated and served with."""
