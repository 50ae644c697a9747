"""The training pipeline: datasets (teacher or data), LoRA fine-tuning, MLflow registry."""
