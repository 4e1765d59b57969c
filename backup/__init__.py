"""Logical backups of one project: dump, restore, clone (python -m backup).

The scheduled backup container of the stack runs this same package, so an on-demand dump
and a nightly one are the same code path. See README, "Backups and restore".
"""
