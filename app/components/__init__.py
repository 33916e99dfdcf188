"""Parts every page shares: the URL view, the digit picker, alerts, links, pictures, validators."""
