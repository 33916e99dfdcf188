"""Data sources: the embedded MNIST subset, mnist.npz, IDX, any .npz (`sources`); uploads and
drawings made into model inputs (`preprocess`, `drawing`)."""
