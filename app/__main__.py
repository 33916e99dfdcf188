"""`python -m app`: serve the dashboard (see `app.main.main`)."""

from app.main import main

main()
