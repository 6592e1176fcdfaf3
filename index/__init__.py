"""mmwe phrase index: embedding artifacts, phrase mining, FAISS indexes and search.

Torch-free on purpose: the serving path (`app/`) imports this package and nothing heavier.
CLI: `python -m index --help`.
"""
