"""cnn-lens core: data, the seed CNN, activations and feature visualization. No web code here."""
