"""`python -m cnn_core.oip`: a progress bar, the arrays in an npz and PNG galleries."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnn_core.oip.__main__ import main, parse_units


def test_command_writes_arrays_and_galleries_with_a_progress_bar(trained, tmp_path, capsys):
    code = main(["--layer", "Conv2D_2", "--units", "0-2,7", "--steps", "6", "--out", str(tmp_path)])
    assert code == 0
    out, err = capsys.readouterr()
    assert "OIP Conv2D_2" in err and "6/6" in err  # tqdm writes to stderr
    assert "4 OIPs of Conv2D_2, 6 steps" in out
    arrays = np.load(tmp_path / "Conv2D_2.npz")
    assert arrays["images"].shape == (4, 28, 28) and arrays["history"].shape == (6, 4)
    assert arrays["units"].tolist() == [0, 1, 2, 7]
    assert arrays["probabilities"].shape == (4, 10)
    assert list(arrays["descriptions"]) == [f"Conv2D_2 map {u}" for u in (0, 1, 2, 7)]
    for name in ("Conv2D_2.png", "Conv2D_2_enhanced.png"):
        width, height = Image.open(io.BytesIO((tmp_path / name).read_bytes())).size
        assert (width, height) == (4 * 84 + 3 * 2, 84)


def test_command_reports_a_unit_out_of_range_without_a_traceback(trained, tmp_path, capsys):
    code = main(["--layer", "Dense_1", "--units", "100", "--steps", "2", "--out", str(tmp_path)])
    assert code == 2
    assert "error: Dense_1 node 100 does not exist: choose 0-99" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_units_parse_lists_ranges_and_all():
    assert parse_units("all") == "all"
    assert parse_units("3, 5-7") == [3, 5, 6, 7]
    with pytest.raises(Exception, match="units must be"):
        parse_units("three")


def test_unknown_layer_is_an_argument_error_listing_the_models_layers(trained, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--layer", "Conv2D_9", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'Conv2D_9'" in err and ", ".join(trained.desc.names) in err
    assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_layers_come_from_the_loaded_model_not_the_seed(shapes_path, tmp_path, capsys):
    args = ["--model", str(shapes_path), "--units", "0,1", "--steps", "3", "--out", str(tmp_path)]
    assert main(["--layer", "conv3", *args]) == 0
    arrays = np.load(tmp_path / "conv3.npz")
    assert arrays["images"].shape == (2, 32, 32, 3)
    assert arrays["probabilities"].shape == (2, 6)
    capsys.readouterr()
    with pytest.raises(SystemExit):  # a seed layer is not a layer of this model
        main(["--layer", "Conv2D_3", *args])
    assert "invalid choice: 'Conv2D_3'" in capsys.readouterr().err
