"""The UI's widgets, one per screen region: status bar, repository tree, conversation,
findings list, code view, input line."""
