"""Activation values as pictures: seed scaling, colormaps as lookup arrays, grid layout, PNG export.

Everything here is plain NumPy (plus Pillow for PNG bytes): the dashboard's figures and the
server-side PNG downloads share these functions, so a grid looks the same in both.

Vocabulary:
    maps: one digit's layer output without the batch axis, `(H, W, C)` float32: C maps of H x W.
        A node layer's `(units,)` vector is treated as `(1, 1, units)`: one 1 x 1 map per node.
    levels: display values in `[0, 1]` float32 (0 = bottom of the colour range, 1 = top).
    mosaic: the maps laid out row by row in a `(rows * H, cols * W)` array, no gaps; cells past
        the last map are NaN.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

#: Colormap names, in the order the dashboard offers them (the seed's four plus gray).
COLORMAPS: tuple[str, ...] = ("jet", "viridis", "inferno", "magma", "gray")
#: The dashboard's colormap when the address names none: viridis reads the same to colour-blind
#: eyes and in grey; jet (the seed's) stays one click away and in every `cmap=jet` link.
DEFAULT_COLORMAP = "viridis"
#: Value scalings: "seed" = per map standardize, x64 + 128, clip to 0-255; "raw" = as computed.
SCALINGS: tuple[str, ...] = ("seed", "raw")
#: Colour ranges: one shared range for the whole layer, or one range per map.
COLOR_RANGES: tuple[str, ...] = ("layer", "map")
#: Node layers with at most this many nodes are drawn as a single row (Dense_2's 10 outputs).
MAX_SINGLE_ROW_NODES = 16


class ImagingError(ValueError):
    """Base class of the precise errors raised here."""


class UnknownColormapError(ImagingError):
    """A colormap name that is not in `COLORMAPS`."""


class UnknownScalingError(ImagingError):
    """A scaling or colour-range name that is not in `SCALINGS` / `COLOR_RANGES`."""


class GridLayoutError(ImagingError):
    """A grid that cannot be laid out (no cells, maps per row below 1, bad array shape)."""


# --------------------------------------------------------------------------------------------
# Colormaps
# --------------------------------------------------------------------------------------------

# matplotlib's `jet` is defined piecewise linearly per channel (its `_jet_data`): exact.
_JET_SEGMENTS: dict[str, tuple[tuple[float, float], ...]] = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}

# The perceptual maps (van der Walt & Smith, matplotlib's `_cm_listed`) as anchor tables:
# matplotlib's 256-entry tables sampled at k/9 (indices 0, 28, 57, 85, 113, 142, 170, 198,
# 227, 255) plus the quartiles 1/4, 1/2, 3/4 (the published five-colour versions). The curves
# are smooth in RGB, so linear interpolation between these anchors stays within a few levels
# of the full tables.
_PERCEPTUAL_ANCHORS: dict[str, tuple[tuple[float, str], ...]] = {
    "viridis": (
        (0 / 9, "#440154"), (1 / 9, "#482878"), (2 / 9, "#3e4989"), (1 / 4, "#3b528b"),
        (3 / 9, "#31688e"), (4 / 9, "#26828e"), (1 / 2, "#21918c"), (5 / 9, "#1f9e89"),
        (6 / 9, "#35b779"), (3 / 4, "#5ec962"), (7 / 9, "#6ece58"), (8 / 9, "#b5de2b"),
        (9 / 9, "#fde725"),
    ),
    "inferno": (
        (0 / 9, "#000004"), (1 / 9, "#1b0c41"), (2 / 9, "#4a0c6b"), (1 / 4, "#56106e"),
        (3 / 9, "#781c6d"), (4 / 9, "#a52c60"), (1 / 2, "#bb3754"), (5 / 9, "#cf4446"),
        (6 / 9, "#ed6925"), (3 / 4, "#f98e09"), (7 / 9, "#fb9b06"), (8 / 9, "#f7d13d"),
        (9 / 9, "#fcffa4"),
    ),
    "magma": (
        (0 / 9, "#000004"), (1 / 9, "#180f3d"), (2 / 9, "#440f76"), (1 / 4, "#51127c"),
        (3 / 9, "#721f81"), (4 / 9, "#9e2f7f"), (1 / 2, "#b73779"), (5 / 9, "#cd4071"),
        (6 / 9, "#f1605d"), (3 / 4, "#fc8961"), (7 / 9, "#fd9668"), (8 / 9, "#feca8d"),
        (9 / 9, "#fcfdbf"),
    ),
}  # fmt: skip


def check_colormap(name: str) -> str:
    """Return `name` if it is a known colormap, else raise `UnknownColormapError`."""
    if name not in COLORMAPS:
        raise UnknownColormapError(
            f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}"
        )
    return name


def check_scaling(scaling: str, color_range: str = "layer") -> tuple[str, str]:
    """Return `(scaling, color_range)` if both are known, else raise `UnknownScalingError`."""
    if scaling not in SCALINGS:
        raise UnknownScalingError(
            f"unknown scaling {scaling!r}; choose one of {', '.join(SCALINGS)}"
        )
    if color_range not in COLOR_RANGES:
        raise UnknownScalingError(
            f"unknown colour range {color_range!r}; choose one of {', '.join(COLOR_RANGES)}"
        )
    return scaling, color_range


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@cache
def _lut(name: str) -> np.ndarray:
    t = np.linspace(0.0, 1.0, 256)
    if name == "jet":
        channels = [
            np.interp(t, [p for p, _ in seg], [v for _, v in seg]) * 255.0
            for seg in (_JET_SEGMENTS["red"], _JET_SEGMENTS["green"], _JET_SEGMENTS["blue"])
        ]
        rgb = np.stack(channels, axis=1)
    elif name == "gray":
        rgb = np.repeat(t[:, None] * 255.0, 3, axis=1)
    else:
        table = _PERCEPTUAL_ANCHORS[name]
        positions = np.array([p for p, _ in table])
        anchors = np.array([_hex_to_rgb(c) for _, c in table], dtype=np.float64)
        rgb = np.stack([np.interp(t, positions, anchors[:, k]) for k in range(3)], axis=1)
    lut = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colormap_lut(name: str) -> np.ndarray:
    """The colormap as a lookup table.

    Args:
        name: one of `COLORMAPS`.

    Returns:
        `(256, 3)` uint8 RGB, read-only; row 0 is the colour of the lowest level, row 255 the
        highest.

    Raises:
        UnknownColormapError: `name` is not a known colormap.
    """
    return _lut(check_colormap(name))


def colorize(levels: np.ndarray, colormap: str, nan_rgb: tuple[int, int, int] = (255, 255, 255)):
    """Colour display levels with a colormap.

    Args:
        levels: any shape, float in `[0, 1]` (clipped); NaN cells get `nan_rgb`.
        colormap: one of `COLORMAPS`.
        nan_rgb: colour of NaN cells (empty grid cells, separators).

    Returns:
        `levels.shape + (3,)` uint8 RGB.
    """
    lut = colormap_lut(colormap)
    levels = np.asarray(levels, dtype=np.float32)
    missing = np.isnan(levels)
    index = np.rint(np.clip(np.nan_to_num(levels, nan=0.0), 0.0, 1.0) * 255).astype(np.uint8)
    rgb = lut[index]
    rgb[missing] = nan_rgb
    return rgb


# --------------------------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------------------------


def as_maps(values: np.ndarray) -> np.ndarray:
    """One digit's layer output as a stack of maps.

    Args:
        values: `(H, W, C)` maps of a conv/pool layer, or `(units,)` nodes of a dense layer.

    Returns:
        `(H, W, C)` float32; nodes become `(1, 1, units)`.

    Raises:
        GridLayoutError: any other number of dimensions, or no values at all.
    """
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, 1, -1)
    if arr.ndim != 3 or arr.size == 0:
        raise GridLayoutError(
            f"expected (H, W, C) maps or (units,) nodes without the batch axis, got {arr.shape}"
        )
    return arr


def seed_scale(image: np.ndarray) -> np.ndarray:
    """Scale one map exactly like the seed's `img_grid_of_layer_activation(scale_img_vals=True)`.

    Subtract the mean; if the standard deviation is not 0, divide by it, multiply by 64 and add
    128; clip to 0-255 and truncate to uint8. A constant map therefore becomes all 0 (the seed
    skips the x64 + 128 step for it).

    Args:
        image: any shape (one map `(H, W)`, or a node vector treated as one map), float.

    Returns:
        Same shape, uint8.
    """
    x = np.asarray(image, dtype=np.float64)
    x = x - x.mean()
    std = x.std()
    if std != 0.0:
        x = x / std * 64.0 + 128.0
    return np.clip(x, 0, 255).astype(np.uint8)


def seed_scale_maps(maps: np.ndarray) -> np.ndarray:
    """`seed_scale` applied to every map of a `(H, W, C)` stack at once.

    Returns:
        `(H, W, C)` uint8, each map scaled on its own mean and standard deviation.
    """
    x = np.asarray(maps, dtype=np.float64)
    x = x - x.mean(axis=(0, 1), keepdims=True)
    std = x.std(axis=(0, 1), keepdims=True)
    scaled = np.where(std != 0.0, x / np.where(std != 0.0, std, 1.0) * 64.0 + 128.0, x)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _stretch(x: np.ndarray, axis: tuple[int, ...] | None) -> np.ndarray:
    lo = x.min(axis=axis, keepdims=axis is not None)
    hi = x.max(axis=axis, keepdims=axis is not None)
    span = hi - lo
    safe = np.where(span > 0, span, 1.0)
    return np.where(span > 0, (x - lo) / safe, 0.0)


def display_levels(
    values: np.ndarray, scaling: str = "seed", color_range: str = "layer"
) -> np.ndarray:
    """Display levels of one digit's layer output, ready for a colormap.

    Conv/pool layers: "seed" scales every map on its own (`seed_scale`) to 0-255; "layer" then
    shows those 0-255 values on one shared range (as the seed's `imshow` of the whole grid does),
    "map" stretches each map's own min..max to the full range. "raw" uses the values as
    computed, with one min..max for the whole layer ("layer") or per map ("map").

    Node layers (`(units,)`) form one vector, not a set of 1 x 1 maps: "seed" standardizes over
    all nodes together (per node it would make every value 0), and "map" equals "layer".

    Args:
        values: `(H, W, C)` maps or `(units,)` nodes, float.
        scaling: one of `SCALINGS`.
        color_range: one of `COLOR_RANGES`.

    Returns:
        `(H, W, C)` float32 in `[0, 1]` (nodes as `(1, 1, units)`).

    Raises:
        UnknownScalingError: unknown `scaling` or `color_range`.
        GridLayoutError: `values` has an unusable shape.
    """
    check_scaling(scaling, color_range)
    nodes = np.ndim(values) == 1
    maps = as_maps(values).astype(np.float64)
    if scaling == "seed":
        scaled = seed_scale(maps) if nodes else seed_scale_maps(maps)
        x = scaled.astype(np.float64)
        if color_range == "layer" or nodes:
            return (x / 255.0).astype(np.float32)
        return _stretch(x, axis=(0, 1)).astype(np.float32)
    if color_range == "layer" or nodes:
        return _stretch(maps, axis=None).astype(np.float32)
    return _stretch(maps, axis=(0, 1)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Grid layout
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridLayout:
    """Where the cells of a grid go.

    Attributes:
        n_cells: number of maps (or nodes).
        rows, cols: grid size in cells; `rows * cols >= n_cells`, the last row may be partial.
        cell_h, cell_w: size of one cell in values (1 x 1 for nodes).
    """

    n_cells: int
    rows: int
    cols: int
    cell_h: int = 1
    cell_w: int = 1

    @property
    def height(self) -> int:
        """Mosaic height in values."""
        return self.rows * self.cell_h

    @property
    def width(self) -> int:
        """Mosaic width in values."""
        return self.cols * self.cell_w

    def cell_origin(self, cell: int) -> tuple[int, int]:
        """`(top, left)` of `cell` in the mosaic, in values."""
        if not 0 <= cell < self.n_cells:
            raise GridLayoutError(f"cell {cell} outside 0..{self.n_cells - 1}")
        row, col = divmod(cell, self.cols)
        return row * self.cell_h, col * self.cell_w


def grid_shape(n_cells: int, per_row: int = 8) -> tuple[int, int]:
    """`(rows, cols)` for `n_cells` maps, `per_row` to a row, row by row; nothing dropped.

    The seed computes `rows = n // per_row` and silently drops the remainder; here the last
    row is partial instead (`ceil`). `cols` is never more than `n_cells`.

    Raises:
        GridLayoutError: `n_cells < 1` or `per_row < 1`.
    """
    if n_cells < 1:
        raise GridLayoutError(f"a grid needs at least one cell, got {n_cells}")
    if per_row < 1:
        raise GridLayoutError(f"maps per row must be at least 1, got {per_row}")
    cols = min(per_row, n_cells)
    return math.ceil(n_cells / cols), cols


def node_grid_shape(n_nodes: int) -> tuple[int, int]:
    """`(rows, cols)` for a node layer: one row for a few nodes, else a near-square grid.

    10 -> (1, 10); 100 -> (10, 10); 1152 (Flatten) -> (32, 36). A layout whose rows divide the
    nodes evenly is preferred when it is not too far from square; no node is ever dropped.

    Raises:
        GridLayoutError: `n_nodes < 1`.
    """
    if n_nodes < 1:
        raise GridLayoutError(f"a grid needs at least one cell, got {n_nodes}")
    if n_nodes <= MAX_SINGLE_ROW_NODES:
        return 1, n_nodes
    root = math.isqrt(n_nodes)
    for rows in range(root, max(1, root // 2), -1):  # widest aspect allowed: about 2 : 1
        if n_nodes % rows == 0:
            return rows, n_nodes // rows
    cols = math.ceil(math.sqrt(n_nodes))
    return math.ceil(n_nodes / cols), cols


def layout_for(values: np.ndarray, per_row: int = 8) -> GridLayout:
    """The grid for one digit's layer output: `per_row` maps to a row, nodes near-square.

    Args:
        values: `(H, W, C)` maps or `(units,)` nodes.
        per_row: maps per row for map layers (ignored for node layers).
    """
    if np.ndim(values) == 1:
        n = int(np.shape(values)[0])
        rows, cols = node_grid_shape(n)
        return GridLayout(n, rows, cols)
    maps = as_maps(values)
    h, w, c = maps.shape
    rows, cols = grid_shape(c, per_row)
    return GridLayout(c, rows, cols, h, w)


def mosaic(maps: np.ndarray, layout: GridLayout, fill: float = np.nan) -> np.ndarray:
    """Lay a stack of maps out as one 2-D array, row by row, without gaps.

    Args:
        maps: `(H, W, C)` with `(H, W) == (layout.cell_h, layout.cell_w)` and
            `C == layout.n_cells`.
        layout: from `layout_for` / `GridLayout`.
        fill: value of the cells past the last map.

    Returns:
        `(layout.height, layout.width)` array, float32 unless `maps` is an integer type and
        `fill` fits it.
    """
    arr = np.asarray(maps)
    h, w, c = arr.shape
    if (h, w, c) != (layout.cell_h, layout.cell_w, layout.n_cells):
        raise GridLayoutError(f"maps {arr.shape} do not match the layout {layout}")
    dtype = arr.dtype if np.can_cast(np.min_scalar_type(fill), arr.dtype) else np.float32
    padded = np.full((h, w, layout.rows * layout.cols), fill, dtype=dtype)
    padded[:, :, :c] = arr
    # (H, W, rows*cols) -> (rows, H, cols, W): reshape keeps row-major cell order.
    grid = padded.reshape(h, w, layout.rows, layout.cols).transpose(2, 0, 3, 1)
    return grid.reshape(layout.rows * h, layout.cols * w)


#: The grid's cell budget: maps are shown downsampled when more cells than this would be sent
#: (about 11 bytes a cell on the wire; the seed's largest grid, Conv2D_1's 32 maps of 26x26,
#: is 21,632 cells and stays whole).
GRID_CELL_BUDGET = 24_576
#: Maps a grid shows by default; a layer with more shows its most active ones first.
DEFAULT_TOP = 128


@dataclass(frozen=True)
class GridSelection:
    """Which maps of one layer output a grid shows, and at what size.

    Attributes:
        maps: `(h, w, n)` float32, the shown maps in grid order, block-averaged by `factor`.
        ids: `(n,)` int64, the layer's map index of each shown map.
        factor: the downsampling factor (1: whole maps).
        total: maps (nodes) in the layer.
        ranked: the maps are the `n` most active, most active first (else all, in order).
    """

    maps: np.ndarray
    ids: np.ndarray
    factor: int
    total: int
    ranked: bool

    @property
    def position(self) -> dict[int, int]:
        """`{map index: grid position}` of the shown maps."""
        return {int(k): i for i, k in enumerate(self.ids)}


def downsample(maps: np.ndarray, factor: int) -> np.ndarray:
    """Block-average `(H, W, C)` maps by `factor` (the last partial block averages what it
    has): `(ceil(H / factor), ceil(W / factor), C)` float32."""
    arr = np.asarray(maps, dtype=np.float32)
    if factor <= 1:
        return arr
    h, w, c = arr.shape
    hh, ww = -(-h // factor), -(-w // factor)
    padded = np.full((hh * factor, ww * factor, c), np.nan, np.float32)
    padded[:h, :w] = arr
    blocks = padded.reshape(hh, factor, ww, factor, c)
    return np.nanmean(blocks, axis=(1, 3)).astype(np.float32)


def select_maps(
    values: np.ndarray, top: int = DEFAULT_TOP, budget: int = GRID_CELL_BUDGET
) -> GridSelection:
    """The maps a grid shows: all of them in order when there are at most `top`, else the
    `top` most active (largest spatial mean, ties by index), most active first; downsampled by
    the smallest whole factor that fits `budget` cells. Nodes are always all shown, whole.

    Args:
        values: one image's layer output, `(H, W, C)` maps or `(units,)` nodes.
        top: how many maps to show at most (>= 1).
        budget: most cells to send.
    """
    raw = as_maps(values)
    total = raw.shape[2]
    if np.ndim(values) == 1 or total <= top:
        ids = np.arange(total, dtype=np.int64)
        ranked = False
    else:
        means = raw.reshape(-1, total).mean(axis=0)
        ids = np.argsort(-means, kind="stable")[:top].astype(np.int64)
        ranked = True
    shown = raw if not ranked else raw[:, :, ids]
    factor = 1
    if np.ndim(values) != 1:
        h, w, n = shown.shape
        while n * -(-h // factor) * -(-w // factor) > budget and factor < max(h, w):
            factor += 1
    return GridSelection(downsample(shown, factor), ids, factor, total, ranked)


def mosaic_positions(layout: GridLayout) -> np.ndarray:
    """Cell index, row and column inside the cell, for every position of the mosaic.

    Returns:
        `(layout.height, layout.width, 3)` of the smallest unsigned integer type that holds the
        values: `[..., 0]` map (node) index, `[..., 1]` row and `[..., 2]` column in that map.
        Positions past the last map hold index `layout.n_cells`.
    """
    top = max(layout.n_cells, layout.cell_h, layout.cell_w)
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65536 else np.uint32
    ys, xs = np.indices((layout.height, layout.width))
    cell = (ys // layout.cell_h) * layout.cols + xs // layout.cell_w
    cell = np.minimum(cell, layout.n_cells)
    return np.stack([cell, ys % layout.cell_h, xs % layout.cell_w], axis=-1).astype(dtype)


# --------------------------------------------------------------------------------------------
# PNG export
# --------------------------------------------------------------------------------------------


def png_bytes(rgb: np.ndarray, *, fast: bool = False) -> bytes:
    """Encode a `(H, W, 3)` uint8 RGB image as PNG bytes (Pillow, lossless).

    Args:
        rgb: the picture.
        fast: lightest compression (zlib level 1): live frames several times a second, where
            encoding time matters more than a few more bytes.
    """
    arr = np.ascontiguousarray(rgb, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImagingError(f"expected (H, W, 3) uint8 RGB, got {arr.shape}")
    buffer = io.BytesIO()
    Image.fromarray(arr, mode="RGB").save(
        buffer, format="PNG", optimize=False, compress_level=1 if fast else 6
    )
    return buffer.getvalue()


def grid_image(
    values: np.ndarray,
    *,
    per_row: int = 8,
    colormap: str = "jet",
    scaling: str = "seed",
    color_range: str = "layer",
    cell_px: int | None = None,
    gap_px: int = 1,
    gap_rgb: tuple[int, int, int] = (221, 221, 221),
) -> np.ndarray:
    """The activation grid as an RGB picture, maps separated by thin lines (like the seed's).

    Args:
        values: `(H, W, C)` maps or `(units,)` nodes of one digit.
        per_row: maps per row (map layers).
        colormap, scaling, color_range: as in `display_levels` / `COLORMAPS`.
        cell_px: screen pixels per value; default: about 56 pixels per map side (at least 1).
        gap_px: separator width in pixels.
        gap_rgb: separator (and empty cell) colour.

    Returns:
        `(rows * (H * cell_px + gap_px) - gap_px, cols * (...) - gap_px, 3)` uint8 RGB.
    """
    layout = layout_for(values, per_row)
    levels = display_levels(values, scaling, color_range)
    if cell_px is None:
        cell_px = max(1, round(56 / max(layout.cell_h, layout.cell_w)))
    rgb_cells = colorize(levels, colormap)  # (H, W, C, 3)
    big = rgb_cells.repeat(cell_px, axis=0).repeat(cell_px, axis=1)
    ch, cw = layout.cell_h * cell_px, layout.cell_w * cell_px
    height = layout.rows * (ch + gap_px) - gap_px
    width = layout.cols * (cw + gap_px) - gap_px
    out = np.empty((height, width, 3), dtype=np.uint8)
    out[:] = gap_rgb
    for cell in range(layout.n_cells):
        row, col = divmod(cell, layout.cols)
        top, left = row * (ch + gap_px), col * (cw + gap_px)
        out[top : top + ch, left : left + cw] = big[:, :, cell]
    return out


def grid_png(values: np.ndarray, **options) -> bytes:
    """`grid_image(values, **options)` encoded as PNG bytes (the server-side download)."""
    return png_bytes(grid_image(values, **options))


def digit_png(image: np.ndarray, colormap: str = "gray", scale: int = 10) -> bytes:
    """An `(H, W)` uint8 grey image (or any 2-D array, min..max stretched) as an enlarged PNG;
    an `(H, W, 3)` uint8 colour image as it is (`colormap` does not apply)."""
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[-1] == 3:
        rgb = np.clip(arr, 0, 255).astype(np.uint8)
        return png_bytes(rgb.repeat(scale, axis=0).repeat(scale, axis=1))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ImagingError(f"expected a grey (H, W) or colour (H, W, 3) image, got {arr.shape}")
    levels = arr / 255.0 if np.asarray(image).dtype == np.uint8 else _stretch(arr, None)
    rgb = colorize(levels, colormap)
    return png_bytes(rgb.repeat(scale, axis=0).repeat(scale, axis=1))


# --------------------------------------------------------------------------------------------
# OIP display: the seed's two-fold view (plain, and contrast-enhanced)
# --------------------------------------------------------------------------------------------


def oip_levels(image: np.ndarray, *, enhanced: bool = False) -> np.ndarray:
    """Display levels of one OIP, as in the seed's two-fold view.

    Args:
        image: `(H, W)` float, an OIP in the model's input space, or `(H, W, 3)` for a colour
            model (all three channels share one stretch, so their balance is kept).
        enhanced: False: the plain view, min..max stretched linearly. True: the
            contrast-enhanced view, clipped to the 2nd..98th percentile and pushed apart by an
            S-curve, so faint structure stands out.

    Returns:
        float32 levels in `[0, 1]` of the image's shape (feed to `oip_rgb`).
    """
    x = np.asarray(image, dtype=np.float64)
    if not (x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 3)):
        raise ImagingError(f"expected one (H, W) or (H, W, 3) OIP, got {x.shape}")
    if not enhanced:
        return _stretch(x, None).astype(np.float32)
    low, high = np.percentile(x, [2.0, 98.0])
    levels = np.clip((x - low) / max(high - low, 1e-12), 0.0, 1.0)
    s_curve = 0.5 + 0.5 * np.tanh(4.0 * (levels - 0.5)) / np.tanh(2.0)
    return s_curve.astype(np.float32)


def oip_rgb(levels: np.ndarray, colormap: str) -> np.ndarray:
    """`(H, W, 3)` uint8 RGB of `oip_levels`: a grey OIP through `colormap`; a colour OIP is
    its own colours (the colormap is not used, only checked)."""
    if levels.ndim == 2:
        return colorize(levels, colormap)
    check_colormap(colormap)
    return np.rint(np.clip(levels, 0.0, 1.0) * 255).astype(np.uint8)


def two_fold_image(image: np.ndarray, colormap: str = "jet", scale: int = 6) -> np.ndarray:
    """The seed's two-fold view of one OIP: plain above, contrast-enhanced below.

    Args:
        image: `(H, W)` (or colour `(H, W, 3)`) float OIP.
        colormap: one of `COLORMAPS`.
        scale: screen pixels per OIP pixel.

    Returns:
        `(2 * H * scale + scale, W * scale, 3)` uint8 RGB, a white gap between the views.
    """
    views = [oip_rgb(oip_levels(image, enhanced=e), colormap) for e in (False, True)]
    gap = np.full((1, views[0].shape[1], 3), 255, dtype=np.uint8)
    rgb = np.concatenate([views[0], gap, views[1]])
    return rgb.repeat(scale, axis=0).repeat(scale, axis=1)


#: How an OIP is drawn: plain, contrast-enhanced, or both stacked (the seed's two-fold view).
OIP_VIEWS: tuple[str, ...] = ("plain", "enhanced", "two_fold")


def oip_picture(image: np.ndarray, view: str = "two_fold", colormap: str = "jet") -> np.ndarray:
    """One OIP as RGB at one screen pixel per OIP pixel.

    Args:
        image: `(H, W)` float OIP (model input space), or `(H, W, 3)` for a colour model.
        view: one of `OIP_VIEWS`.
        colormap: one of `COLORMAPS` (grey OIPs only).

    Returns:
        `(H, W, 3)` uint8 RGB, or `(2 * H + 1, W, 3)` for "two_fold" (a 1-pixel white gap).

    Raises:
        ImagingError: unknown view or not an `(H, W)` / `(H, W, 3)` image; UnknownColormapError.
    """
    if view not in OIP_VIEWS:
        raise ImagingError(f"unknown OIP view {view!r}; choose one of {', '.join(OIP_VIEWS)}")
    if view == "two_fold":
        return two_fold_image(image, colormap, scale=1)
    return oip_rgb(oip_levels(image, enhanced=view == "enhanced"), colormap)


def oip_png(
    image: np.ndarray, view: str = "two_fold", colormap: str = "jet", scale: int = 8
) -> bytes:
    """One OIP as an enlarged PNG (default: the two-fold view), e.g. for a download."""
    rgb = oip_picture(image, view, colormap)
    return png_bytes(rgb.repeat(scale, axis=0).repeat(scale, axis=1))


def oip_gallery_image(
    images: np.ndarray,
    *,
    view: str = "plain",
    colormap: str = "jet",
    per_row: int = 16,
    scale: int = 3,
    gap_px: int | None = None,
    gap_rgb: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Many OIPs (e.g. all 128 maps of Conv2D_3) in a grid, row by row, each scaled on its own.

    Args:
        images: `(n, H, W)` float OIPs, or `(n, H, W, 3)` for a colour model.
        view: one of `OIP_VIEWS`.
        colormap: one of `COLORMAPS`.
        per_row: OIPs per row (the last row may be partial).
        scale: screen pixels per OIP pixel.
        gap_px: white space between OIPs, in screen pixels; default 2, or 3 OIP pixels for
            "two_fold" so that each plain/enhanced pair (1 OIP pixel apart) reads as one.
        gap_rgb: colour of the gaps and of empty cells.

    Returns:
        `(rows * (h + gap_px) - gap_px, cols * (W * scale + gap_px) - gap_px, 3)` uint8 RGB,
        `h` = H * scale ((2 * H + 1) * scale for "two_fold").

    Raises:
        GridLayoutError: no images or a bad shape; ImagingError: bad view or scale.
    """
    arr = np.asarray(images, dtype=np.float32)
    colour = arr.ndim == 4 and arr.shape[3] == 3
    if not (arr.ndim == 3 or colour) or arr.shape[0] == 0:
        raise GridLayoutError(f"expected (n, H, W) or (n, H, W, 3) OIPs, n >= 1, got {arr.shape}")
    if gap_px is None:
        gap_px = 3 * scale if view == "two_fold" else 2
    if scale < 1 or gap_px < 0:
        raise ImagingError(f"need scale >= 1 and gap_px >= 0, got {scale} and {gap_px}")
    rows, cols = grid_shape(len(arr), per_row)
    cells = [oip_picture(image, view, colormap) for image in arr]
    cell_h, cell_w = cells[0].shape[0] * scale, cells[0].shape[1] * scale
    out = np.empty(
        (rows * (cell_h + gap_px) - gap_px, cols * (cell_w + gap_px) - gap_px, 3), np.uint8
    )
    out[:] = gap_rgb
    for i, cell in enumerate(cells):
        row, col = divmod(i, cols)
        top, left = row * (cell_h + gap_px), col * (cell_w + gap_px)
        out[top : top + cell_h, left : left + cell_w] = cell.repeat(scale, 0).repeat(scale, 1)
    return out


def oip_gallery_png(images: np.ndarray, **options) -> bytes:
    """`oip_gallery_image(images, **options)` encoded as PNG bytes."""
    return png_bytes(oip_gallery_image(images, **options))
