"""One screen per file: the main layout, help, the model picker, past conversations."""
