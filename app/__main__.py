"""`python -m app`: serve the dashboard. The command line and the model file are checked
first (`app.cli`), before the dashboard and TensorFlow are imported."""

from app.cli import prepare

args, settings = prepare()

from app.main import serve  # noqa: E402 - after the check, which must not wait for TensorFlow

serve(args, settings)
