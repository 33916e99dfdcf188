// The Model page's graph (app/model_graph.py, id "model-graph"): the layout fits the whole
// network into the canvas, which shrinks a long one (DenseNet121: 66 folded stages in a column)
// to unreadable letters. Below a readable zoom, show the network's top at that zoom instead;
// dragging pans down, the wheel zooms out.
(function () {
  "use strict";

  var GRAPH_ID = "model-graph";
  var READABLE_ZOOM = 0.6;
  var TOP_MARGIN_PX = 12;

  function readable(cy) {
    if (cy.zoom() >= READABLE_ZOOM || cy.elements().empty()) return;
    var box = cy.elements().boundingBox();
    cy.viewport({
      zoom: READABLE_ZOOM,
      pan: {
        x: cy.width() / 2 - READABLE_ZOOM * (box.x1 + box.w / 2),
        y: TOP_MARGIN_PX - READABLE_ZOOM * box.y1,
      },
    });
  }

  function hook() {
    var element = document.getElementById(GRAPH_ID);
    var cy = element && element._cyreg && element._cyreg.cy;
    if (!cy || cy.scratch("_cnnLensReadable")) return;
    cy.scratch("_cnnLensReadable", true);
    cy.on("layoutstop", function () { readable(cy); });
    readable(cy); // the first layout ran when the graph was made, before this saw it
  }

  function start() {
    hook();
    new MutationObserver(hook).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
