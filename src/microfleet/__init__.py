"""microfleet: domain assistants from a knowledge base, micromodels and an orchestrator."""

__version__ = "0.1.0"
