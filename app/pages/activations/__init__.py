"""Activation explorer (`/activations`): any digit, any layer, every map as one heatmap grid.

`view` (the URL view), `layout` (the page, registered with Dash), `callbacks`, `render`.
"""
