"""mmwe service: related phrases over REST and admin-triggered evaluation.

Run: `python -m app serve` (see `python -m app --help`). Imports `index`, never torch or `training`.
"""
