"""Tags queries (.scm) per language, shipped with the package."""
