"""What the model does with an image: activations, attribution, class comparison, and the
training timeline."""
