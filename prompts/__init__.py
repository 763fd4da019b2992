"""Prompt templates, shipped in the wheel as ``gemmacode.prompts`` (see gemmacode/review/prompts.py)."""
