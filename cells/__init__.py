"""`python -m cells`: the stacks of a multi-host deployment, each a cell (docs/cells.md).

A cell is a stack of this program whose config has a `cell` block. `pulumi up` / `pulumi
preview` of one cell's stack stay the way a project is added and reviewed; this package is
for what spans cells: checking them together, running the changed ones, one dashboard.

inventory.py (the cells, read through the Automation API) <- checks.py (rules across
cells) ; runner.py (preview/up, one CLI process per stack) ; outputs.py (one dashboard).
"""
