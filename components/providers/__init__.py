"""Pulumi dynamic providers (Python code the engine runs in its provider process): SQL
steps, Kong's live config, database passwords. They build on core only.
"""
