"""mmwe training: corpora, image features, the paper's GRU models and the word2vec baseline.

CLI: `python -m training --help`.
"""
