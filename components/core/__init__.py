"""Plain logic at the bottom of the import graph: config validation, names, URLs, SQL
lifecycle and templates. Nothing here declares a Pulumi resource or imports the other kinds.
"""
