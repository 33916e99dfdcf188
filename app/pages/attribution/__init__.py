"""Attribution page (`/attribution`): which pixels drove the model's decision for one digit, by
five methods side by side, each with its deletion check. `view`, `layout`, `callbacks`,
`render`; the computing is in `app.attributions` and `cnn_core.explain.attribution`."""
