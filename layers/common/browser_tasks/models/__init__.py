"""Shapes shared by handlers, domain and adapters."""
