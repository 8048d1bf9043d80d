"""The calcium detector, without Django: image geometry, polar lookup, A-line features, guidewire
tracking, SVM, post-processing, the calcium map and annotated arcs as A-line labels, training on
phantoms (phantoms/) and the model store with the shipped weights (weights/)."""
