"""Component ids, defined once so layouts, callbacks and browser tests agree."""

# shell
URL = "url"
NAVBAR = "navbar"

# Model page
MODEL_LAYER_TABLE = "model-layer-table"
MODEL_ACCURACY = "model-accuracy"
MODEL_CURVES = "model-curves"
MODEL_CONFUSION = "model-confusion"
MODEL_DATA_SOURCE = "model-data-source"
MODEL_WARNING = "model-warning"


# Compare page (issue #4)
COMPARE_CLASS_A = "compare-class-a"
COMPARE_CLASS_B = "compare-class-b"
COMPARE_N = "compare-n"
COMPARE_KIND_A = "compare-kind-a"
COMPARE_KIND_B = "compare-kind-b"
COMPARE_INDICES_A = "compare-indices-a"
COMPARE_INDICES_B = "compare-indices-b"
COMPARE_LAYER = "compare-layer"
COMPARE_THRESHOLD = "compare-threshold"
COMPARE_CMAP = "compare-cmap"
COMPARE_MESSAGE = "compare-message"
COMPARE_URL_MESSAGE = "compare-url-message"
COMPARE_QUERY = "compare-query"
COMPARE_URL_SINK = "compare-url-sink"
COMPARE_SHOWN = "compare-shown"
COMPARE_LEGEND = "compare-legend"
COMPARE_PANEL_A = "compare-panel-a"
COMPARE_PANEL_B = "compare-panel-b"
COMPARE_DIFF = "compare-diff"
COMPARE_RANKING = "compare-ranking"
COMPARE_TOP_MAPS = "compare-top-maps"
COMPARE_CONFUSION = "compare-confusion"
COMPARE_CELL = "compare-cell"
COMPARE_ADD = "compare-add"  # pattern-matching: {"type": COMPARE_ADD, "index": digit}
COMPARE_PAIR = "compare-pair"  # pattern-matching: {"type": COMPARE_PAIR, "a": t, "b": p}
COMPARE_DOWNLOAD = "compare-download"
COMPARE_DOWNLOAD_BUTTON = "compare-download-button"
