"""The repo map: a graph of which file uses which definitions, ranked by personalised
PageRank, rendered as an outline fitted to a token budget, and its caches."""
