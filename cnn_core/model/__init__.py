"""The loaded model: reading any model file (`trained`), walking its graph with nested models
seen through (`graph`), describing the nodes worth showing (`anatomy`), running its own layers
with their pre-activation values exposed (`forward`), and the seed CNN and its training (`seed`)."""
