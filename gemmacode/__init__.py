"""gemmacode: a local code-review assistant for small models on small GPUs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
