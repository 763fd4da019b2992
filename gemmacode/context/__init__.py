"""Context sizing: KV-cache arithmetic, the adaptive num_ctx policy, budgets and calibration."""
