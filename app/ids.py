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
