"""Class comparisons: common points, example picking, class statistics and the ranking."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from cnn_core import imaging
from cnn_core.explain.activations import UnknownLayerError
from cnn_core.explain.compare import (
    RED_RGB,
    YELLOW_RGB,
    ClassStatistics,
    CompareError,
    NotEnoughExamplesError,
    SameClassError,
    StatisticsCache,
    UnknownClassError,
    check_class,
    check_pair,
    common_points,
    comparison_png,
    confused_digits,
    confusion_matrix,
    layer_statistics,
    marker_centers,
    parse_indices,
    pick_examples,
    rank_units,
    unit_values,
)

# --- common_points ---------------------------------------------------------------------------


def test_common_points_marks_only_a_and_both_on_a_known_pattern():
    # 3 examples of A and 2 of B over 4 nodes; layer max is 10 -> cutoff 5 at threshold 0.5
    acts_a = np.array(
        [
            [9.0, 8.0, 6.0, 0.0],
            [7.0, 9.0, 1.0, 10.0],
            [6.0, 6.0, 9.0, 0.0],
        ]
    )
    acts_b = np.array(
        [
            [0.0, 9.0, 9.0, 9.0],
            [1.0, 7.0, 9.0, 9.0],
        ]
    )
    only_a, both, cutoff = common_points(acts_a, acts_b, 0.5)
    assert cutoff == 5.0
    # node 0: all A active, no B -> red; node 1: all A and all B -> yellow;
    # node 2: one A below cutoff -> neither; node 3: A not all active -> neither
    assert only_a.tolist() == [True, False, False, False]
    assert both.tolist() == [False, True, False, False]


def test_common_points_partially_active_b_is_neither_red_nor_yellow():
    acts_a = np.array([[[[5.0]]], [[[6.0]]]])  # (2, 1, 1, 1) maps
    acts_b = np.array([[[[6.0]]], [[[0.0]]]])
    only_a, both, _ = common_points(acts_a, acts_b, 0.5)
    assert only_a.shape == (1, 1, 1)
    assert not only_a.any() and not both.any()


def test_common_points_keeps_map_shape_and_positions():
    acts_a = np.zeros((3, 3, 3, 2))
    acts_b = np.zeros((3, 3, 3, 2))
    acts_a[:, 1, 2, 0] = 4.0  # red at row 1, col 2 of map 0
    acts_a[:, 0, 0, 1] = 3.0
    acts_b[:, 0, 0, 1] = 3.0  # yellow at row 0, col 0 of map 1
    only_a, both, _ = common_points(acts_a, acts_b, 0.5)
    assert only_a.shape == (3, 3, 2)
    assert list(zip(*np.nonzero(only_a), strict=True)) == [(1, 2, 0)]
    assert list(zip(*np.nonzero(both), strict=True)) == [(0, 0, 1)]


def test_common_points_threshold_is_relative_to_the_layer_maximum():
    acts_a = np.array([[2.0, 8.0]])
    acts_b = np.array([[0.0, 0.0]])
    assert common_points(acts_a, acts_b, 0.2).only_a.tolist() == [True, True]  # cutoff 1.6
    assert common_points(acts_a, acts_b, 0.3).only_a.tolist() == [False, True]  # cutoff 2.4
    # scaling every activation does not change which points are active
    assert common_points(acts_a * 100, acts_b, 0.3).only_a.tolist() == [False, True]


def test_common_points_of_a_silent_layer_are_empty():
    only_a, both, _ = common_points(np.zeros((2, 5)), np.zeros((2, 5)), 0.0)
    assert not only_a.any() and not both.any()


@pytest.mark.parametrize(
    ("a", "b", "threshold"),
    [
        (np.zeros((0, 3)), np.zeros((1, 3)), 0.5),
        (np.zeros((1, 3)), np.zeros((1, 4)), 0.5),
        (np.zeros((1, 3)), np.zeros((1, 3)), 1.5),
        (np.zeros((1, 3)), np.zeros((1, 3)), -0.1),
    ],
)
def test_common_points_rejects_bad_input(a, b, threshold):
    with pytest.raises(ValueError):
        common_points(a, b, threshold)


# --- classes ---------------------------------------------------------------------------------


def test_check_class_accepts_digits_and_rejects_the_rest():
    assert check_class(4) == 4 and check_class("9") == 9 and check_class(np.int64(0)) == 0
    for bad in (10, -1, "x", "4.5", "", None, True, 4.5):
        with pytest.raises(UnknownClassError):
            check_class(bad)


def test_check_pair_rejects_the_same_class_twice():
    assert check_pair("4", 9) == (4, 9)
    with pytest.raises(SameClassError, match="different"):
        check_pair(4, "4")


# --- pick_examples ---------------------------------------------------------------------------


def _small_set():
    """Six digits of class 4 and two of class 9 with hand-set probabilities."""
    labels = np.array([4, 4, 4, 9, 4, 4, 4, 9])
    p = np.zeros((8, 10))
    p[0, [4, 9]] = 0.90, 0.10  # correct, margin 0.80
    p[1, [4, 9]] = 0.99, 0.01  # correct, margin 0.98
    p[2, [4, 9]] = 0.30, 0.70  # misclassified as 9, margin -0.40
    p[3, 9] = 1.0
    p[4, [4, 7]] = 0.55, 0.45  # correct, margin 0.10 (against 7)
    p[5, [4, 7]] = 0.20, 0.80  # misclassified as 7: neither clear nor unclear-vs-9
    p[6, [4, 9]] = 0.99, 0.01  # ties with digit 1: the smaller index goes first
    p[7, [4, 9]] = 0.60, 0.40
    return labels, p


def test_clear_examples_are_correct_and_most_confident_first():
    labels, p = _small_set()
    assert pick_examples(labels, p, 4, 9, 3, "clear").tolist() == [1, 6, 0]


def test_unclear_examples_start_with_the_other_class_then_smallest_margin():
    labels, p = _small_set()
    assert pick_examples(labels, p, 4, 9, 3, "unclear").tolist() == [2, 4, 0]
    # a 4 misclassified as 7 is not an unclear 4-vs-9 example; a 4 misclassified as 9 is
    assert 5 not in pick_examples(labels, p, 4, 9, 5, "unclear").tolist()
    assert 2 not in pick_examples(labels, p, 4, 7, 5, "unclear").tolist()


def test_pick_examples_is_deterministic_and_sized():
    labels, p = _small_set()
    first = pick_examples(labels, p, 4, 9, 2, "clear")
    assert first.dtype == np.int64 and first.shape == (2,)
    assert np.array_equal(first, pick_examples(labels, p, 4, 9, 2, "clear"))


def test_pick_examples_says_how_many_exist_when_too_few():
    labels, p = _small_set()
    with pytest.raises(NotEnoughExamplesError, match="only 4"):
        pick_examples(labels, p, 4, 9, 5, "clear")
    with pytest.raises(ValueError, match="unknown kind"):
        pick_examples(labels, p, 4, 9, 1, "blurry")


def test_pick_examples_on_the_real_test_split(services):
    labels, proba = services.data.y_test, services.proba["test"]
    clear = pick_examples(labels, proba, 4, 9, 3, "clear")
    unclear = pick_examples(labels, proba, 4, 9, 3, "unclear")
    assert (labels[clear] == 4).all() and (proba[clear].argmax(axis=1) == 4).all()
    assert (labels[unclear] == 4).all()
    assert set(proba[unclear].argmax(axis=1)) <= {4, 9}
    assert proba[clear, 4].min() >= proba[unclear, 4].max()


# --- statistics and ranking ------------------------------------------------------------------


def test_unit_values_average_maps_and_keep_nodes():
    maps = np.arange(2 * 2 * 2 * 3, dtype=float).reshape(2, 2, 2, 3)
    assert unit_values(maps).shape == (2, 3)
    assert unit_values(maps)[0, 0] == maps[0, :, :, 0].mean()
    nodes = np.ones((4, 7))
    assert unit_values(nodes).shape == (4, 7)


def test_statistics_over_batches_match_a_direct_computation():
    rng = np.random.default_rng(0)
    acts = rng.random((40, 3, 3, 5))
    labels = rng.integers(0, 10, 40)
    labels[:2] = 4, 9
    stats = ClassStatistics.from_batches(
        [(acts[i : i + 7], labels[i : i + 7]) for i in range(0, 40, 7)]
    )
    for cls in (4, 9):
        sel = labels == cls
        assert stats.count[cls] == sel.sum()
        np.testing.assert_allclose(stats.mean_map[cls], acts[sel].mean(axis=0))
        np.testing.assert_allclose(stats.unit_std[cls], acts[sel].mean(axis=(1, 2)).std(axis=0))
    np.testing.assert_allclose(stats.difference(4, 9), stats.mean_map[4] - stats.mean_map[9])


def test_ranking_puts_a_planted_discriminative_map_first():
    rng = np.random.default_rng(1)
    n = 200
    labels = np.repeat([4, 9], n // 2)
    acts = rng.normal(1.0, 0.5, (n, 3, 3, 16)).clip(0)
    acts[labels == 9, :, :, 11] += 2.0  # map 11 fires much more for 9s
    acts[labels == 4, :, :, 3] += 0.3  # map 3 a little more for 4s
    stats = ClassStatistics.from_batches([(acts, labels)])
    ranking = rank_units(stats, 4, 9)
    assert ranking.units[0] == 11
    assert ranking.score[0] < 0  # stronger for B
    assert ranking.mean_b[0] > ranking.mean_a[0]
    assert ranking.units[1] == 3 and ranking.score[1] > 0
    assert sorted(ranking.units.tolist()) == list(range(16))
    assert len(ranking.top(5).units) == 5


def test_ranking_of_silent_units_is_finite():
    stats = ClassStatistics.from_batches([(np.zeros((4, 6)), np.array([4, 4, 9, 9]))])
    ranking = rank_units(stats, 4, 9)
    assert np.isfinite(ranking.score).all() and ranking.units.tolist() == list(range(6))


def test_ranking_needs_digits_of_both_classes():
    stats = ClassStatistics.from_batches([(np.ones((2, 3)), np.array([4, 4]))])
    with pytest.raises(NotEnoughExamplesError, match="class 9"):
        rank_units(stats, 4, 9)


def test_real_layer_statistics_cover_the_whole_test_split(services):
    stats = layer_statistics(
        services.acts, services.x_std["test"], services.data.y_test, "Conv2D_3", batch_size=300
    )
    assert stats.mean_map.shape == (10, 3, 3, 128)
    assert stats.count.sum() == len(services.data.y_test)
    direct = services.acts.layer(services.x_std["test"][:100], "Conv2D_3")
    assert direct.shape == (100, 3, 3, 128)
    ranking = rank_units(stats, 4, 9)
    assert abs(ranking.score[0]) > 1.0  # some map separates real 4s from real 9s well


def test_statistics_cache_computes_each_layer_once_across_threads(services, monkeypatch):
    import cnn_core.explain.compare as compare

    calls: list[str] = []
    real = compare.layer_statistics

    def counting(acts, x_std, labels, layer, batch_size=250):
        calls.append(layer)
        return real(acts, x_std, labels, layer, batch_size)

    monkeypatch.setattr(compare, "layer_statistics", counting)
    cache = StatisticsCache(services.acts, services.x_std["test"], services.data.y_test)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("Dense_1"))) for _ in "xyz"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["Dense_1"]
    assert all(r is results[0] for r in results)
    assert results[0].mean_map.shape == (10, 100)
    with pytest.raises(UnknownLayerError):
        cache.get("Conv2D_9")


# --- confusion -------------------------------------------------------------------------------


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    cm = confusion_matrix(np.array([4, 4, 9, 9, 9]), np.array([4, 9, 9, 9, 4]))
    assert cm.shape == (10, 10) and cm.sum() == 5
    assert cm[4, 4] == 1 and cm[4, 9] == 1 and cm[9, 9] == 2 and cm[9, 4] == 1


def test_confused_digits_lists_a_cell_most_telling_first():
    labels, p = _small_set()
    assert confused_digits(labels, p, 4, 9).tolist() == [2]
    # correct 4s: the least confident first
    assert confused_digits(labels, p, 4, 4).tolist() == [4, 0, 1, 6]
    assert confused_digits(labels, p, 9, 4).tolist() == [7]  # a 9 the model called 4
    assert confused_digits(labels, p, 9, 7).tolist() == []


def test_confused_digits_match_the_real_confusion_matrix(services):
    labels, proba = services.data.y_test, services.proba["test"]
    cm = confusion_matrix(labels, proba.argmax(axis=1))
    for t, p in [(4, 4), (4, 9), (9, 4), (7, 2)]:
        cell = confused_digits(labels, proba, t, p)
        assert len(cell) == cm[t, p]
        assert (labels[cell] == t).all() and (proba[cell].argmax(axis=1) == p).all()


def test_parse_indices_reads_typed_lists_and_rejects_bad_ones():
    assert parse_indices(" 12, 40 77;12 ", 1000) == [12, 40, 77]
    assert parse_indices("", 1000) == []
    with pytest.raises(CompareError, match="not a digit index"):
        parse_indices("12, x", 1000)
    with pytest.raises(CompareError, match="out of range"):
        parse_indices("1000", 1000)
    with pytest.raises(CompareError, match="out of range"):
        parse_indices("-3", 1000)


# --- the comparison picture ------------------------------------------------------------------


def test_marker_centers_land_in_the_right_cell_and_position():
    layout = imaging.layout_for(np.zeros((3, 3, 4)), per_row=2)  # 2 x 2 cells of 3 x 3
    mask = np.zeros((3, 3, 4), dtype=bool)
    mask[2, 0, 3] = True  # map 3 = grid row 1, col 1; inside it row 2, col 0
    assert marker_centers(mask, layout, cell_px=10, gap_px=1).tolist() == [[36.0, 56.0]]
    nodes = imaging.layout_for(np.zeros(100))  # 10 x 10 nodes
    node_mask = np.zeros(100, dtype=bool)
    node_mask[23] = True
    assert marker_centers(node_mask, nodes, cell_px=20, gap_px=1).tolist() == [
        [73.0, 52.0]
    ]  # node 23: row 2, col 3


def _picture(red_a, both, colormap="jet"):
    from PIL import Image

    rng = np.random.default_rng(3)
    digits = rng.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    acts = rng.random((2, 3, 3, 8)).astype(np.float32)
    png = comparison_png(
        digits[:1],
        digits[1:],
        acts[:1],
        acts[1:],
        red_a=red_a,
        red_b=np.zeros_like(red_a),
        both=both,
        captions_a=["#0: a"],
        captions_b=["#1: b"],
        title="line one\nline two",
        colormap=colormap,
    )
    assert png.startswith(b"\x89PNG")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _count(rgb, color):
    return int((rgb == np.array(color, dtype=np.uint8)).all(axis=-1).sum())


def test_comparison_png_draws_red_and_yellow_circles_only_where_marked():
    empty = np.zeros((3, 3, 8), dtype=bool)
    plain = _picture(empty, empty, colormap="gray")
    assert _count(plain, RED_RGB) == 0 and _count(plain, YELLOW_RGB) == 0
    red = empty.copy()
    red[1, 1, 2] = True
    both = empty.copy()
    both[0, 0, 5] = True
    marked = _picture(red, both, colormap="gray")
    assert marked.shape == plain.shape
    # one red circle on A's grid; one yellow circle on each side's grid
    assert _count(marked, RED_RGB) > 20 and _count(marked, YELLOW_RGB) > 40
    left_half = marked[:, : marked.shape[1] // 2]
    assert _count(left_half, RED_RGB) == _count(marked, RED_RGB)


def test_comparison_png_draws_colour_digits_in_their_colours():
    from PIL import Image

    digits = np.zeros((2, 32, 32, 3), np.uint8)
    digits[..., 2] = 255  # pure blue pictures
    acts = np.random.default_rng(4).random((2, 4, 4, 8)).astype(np.float32)
    none = np.zeros((4, 4, 8), bool)
    png = comparison_png(
        digits[:1], digits[1:], acts[:1], acts[1:], red_a=none, red_b=none, both=none,
        captions_a=["#0"], captions_b=["#1"], title="colour",
    )  # fmt: skip
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert _count(rgb, (0, 0, 255)) >= 2 * (3 * 32) ** 2  # both pictures, 3x enlarged, blue


def test_a_confusion_matrix_that_relabels_the_classes_gives_the_models_order():
    from cnn_core.explain.compare import implied_class_order

    names = ("blue disc", "red disc", "red square")  # a folder's sorted names
    cm = np.array([[0, 48, 2], [50, 0, 0], [1, 0, 49]])  # blue -> output 1, red disc -> 0
    assert implied_class_order(cm, names) == ("red disc", "blue disc", "red square")
    assert implied_class_order(np.diag([5, 5, 5]), names) is None  # already in order
    assert implied_class_order(np.ones((3, 3)), names) is None  # no one-to-one match
    assert implied_class_order(np.zeros((3, 3)), names) is None
