"""Model files given on the command line run nothing: a `.keras` whose config holds a `Lambda`
(Python code) is refused by Keras's safe mode with one line, before any of it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import check_model_file


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory) -> tuple[Path, Path]:
    """A `.keras` classifier with a Lambda that writes a marker file whenever it runs, and the
    marker's path (removed after the model was built, which ran the Lambda once)."""
    import keras

    folder = tmp_path_factory.mktemp("lambda")
    marker = folder / "the-lambda-ran"
    # what a hostile file holds: Python that runs when the layer is called (no closure: the
    # path is a constant of its code, as an attacker's would be)
    code = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]")
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Lambda(code), keras.layers.Flatten(),
         keras.layers.Dense(10, activation="softmax")]
    )  # fmt: skip
    path = folder / "lambda.keras"
    model.save(path)
    marker.unlink()
    return path, marker


def test_a_lambda_in_a_model_file_is_refused_in_one_line_and_never_runs(lambda_model):
    from app.main import one_line
    from cnn_core.model.trained import ModelLoadError, load_trained

    path, marker = lambda_model
    assert check_model_file(path) is None  # a sound archive: refused by Keras, not by the check
    with pytest.raises(ModelLoadError) as err:
        load_trained(path)  # what `python -m app --model` and every gunicorn worker call
    said = f"cnn-lens: cannot start: {one_line(err.value)}"  # as `app.main.serve` says it
    assert "\n" not in said and "`Lambda`" in said and "safe_mode" in said, said
    assert not marker.exists()
