"""GPU memory monitoring (NVML) with plain fallbacks when there is no GPU."""
