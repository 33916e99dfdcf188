"""Training timeline (`/timeline`): what the network computes, and its OIPs, epoch by epoch.

`view` (the URL view), `layout` (the page, registered with Dash), `callbacks`, `render`.
"""
