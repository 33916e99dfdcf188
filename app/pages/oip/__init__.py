"""OIP page (`/oip`): watch gradient ascent build a unit's optimal input pattern; galleries.

`view` (the URL view), `layout` (the page, registered with Dash), `callbacks`, `render`.
"""
