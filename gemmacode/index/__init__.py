"""Repository index: files, languages, symbols, repo map and syntax-aware chunks."""
