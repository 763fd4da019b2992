"""The review engine: targets, context packing, prompts, findings and their output formats."""
