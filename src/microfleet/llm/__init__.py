"""Generation: the shared base model and its adapters."""
