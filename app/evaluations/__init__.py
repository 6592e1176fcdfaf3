"""Admin-triggered evaluation runs: stored in SQL (`store`), executed one at a time per worker in a separate,
niced process (`runner` starts `python -m app.evaluations.worker RUN_ID`), so query traffic is not blocked."""
