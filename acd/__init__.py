"""Automatic call distribution for the 12345 hotline: skills, overflow, callbacks, shared state.

Start with :class:`acd.service.Acd` (the engine's API) and docs/acd.md.
"""
