"""gemmacode's terminal UI: a Textual shell over the core session.

It renders the core's status and task events and sends it requests; it holds no model, git,
index or budget logic of its own. ``gemmacode.tui.app.make_app`` builds the app for the CLI
(``gemmacode tui``) and for the tests alike. This package is the only one that imports
textual, and only when the UI starts (``gemmacode --help`` never loads it).
"""
