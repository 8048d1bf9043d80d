"""The calcium detector: polar lookup, A-line features, guidewire tracking, SVM, post-processing."""
