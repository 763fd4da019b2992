"""Fakes for the outside world (model server, GPU), each beside a test of the real thing."""
