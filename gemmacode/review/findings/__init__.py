"""Findings: the model's answer parsed (tolerant JSON, prose fallback), anchored to the
lines the model saw, named in one vocabulary, rendered for people, JSON and SARIF."""
