"""cnn-lens dashboard: Dash pages over `cnn_core`."""
