"""One module per CLI command; each exposes HELP, add_arguments(parser) and run(args)."""
