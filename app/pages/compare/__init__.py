"""Compare page (`/compare`): two classes side by side, common points circled, the maps that
separate them, the confusion matrix. `view`, `layout`, `callbacks`, `render`; the computing is
in `app.comparison` and `cnn_core.explain.compare`."""
