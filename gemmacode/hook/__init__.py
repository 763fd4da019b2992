"""The git commit hook: a front end on the core, beside the commands and the terminal UI.

``gitio`` (the repository as the hook sees it), ``changes`` (what the commit records, what is
worth a review), ``lines`` (which lines it touches), ``cache`` (reviews by content),
``accept`` (inline ignores and the baseline), ``decide`` (the verdict and exit codes),
``output`` (what is printed), ``probe`` (the server, before anything heavy), ``speeds``
(sizing the work to the deadline), ``review`` and ``drive`` (one review through the core),
``run`` (the whole run), ``push`` (pushed ranges), ``shim`` and ``install`` (what git runs).
"""
