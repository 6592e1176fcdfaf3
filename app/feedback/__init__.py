"""Users' feedback on related phrases, its export as a click log, and the click benchmarks built from it."""
