"""Token counts: tiktoken's offline encoding, token classes, the helper process that
counts on another core, and per-model calibration against the server's counts."""
