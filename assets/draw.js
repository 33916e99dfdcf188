/* The digit picker's drawing canvas (app/components/digit_picker.py): drawn here, in the
 * browser, from pointer events (mouse, touch, pen); only a small PNG of it goes to the server,
 * through the picker's drawing store (dash_clientside.set_props), and at most MAX_PER_SECOND
 * times a second per tab. While a stroke goes on, a picture leaves at most every STROKE_GAP_MS
 * (leaving room in the budget), so that the one sent when the stroke ends can go at once. */
(function () {
  "use strict";

  var MAX_PER_SECOND = 6;
  var WINDOW_MS = 1000;
  var STROKE_GAP_MS = 200;
  var pads = {}; // by canvas id
  var sentTimes = []; // this tab's sends within the last WINDOW_MS
  var timer = null;
  var timerAt = 0;

  // What tests and the benchmark read: sends, and when the last stroke ended.
  var stats = (window.cnnLensDraw = { sends: 0, lastStrokeEnd: 0, lastSend: 0, sendTimes: [] });

  function padOf(canvas) {
    var pad = pads[canvas.id];
    if (!pad || pad.canvas !== canvas) {
      pad = pads[canvas.id] = {
        canvas: canvas,
        strokes: [],
        history: [], // what undo returns to: {strokes, initial} before each stroke or clear
        current: null,
        initial: null,
        dirty: false,
        seq: 0,
        ink: canvas.dataset.ink || "#ffffff",
      };
      if (canvas.dataset.initial) {
        var image = new Image();
        image.onload = function () {
          pad.initial = image;
          redraw(pad);
        };
        image.src = canvas.dataset.initial;
      }
      redraw(pad);
    }
    return pad;
  }

  function tools(pad) {
    return pad.canvas.closest(".draw-pad");
  }

  function penWidth(pad) {
    // dcc.Input puts its class on a wrapper: the range input is inside it
    var box = tools(pad) && tools(pad).querySelector(".draw-pen-width input");
    var width = box ? parseFloat(box.value) : 22;
    return isFinite(width) && width > 0 ? width : 22;
  }

  function paint(ctx, stroke) {
    var points = stroke.points;
    ctx.strokeStyle = ctx.fillStyle = stroke.colour;
    ctx.lineWidth = stroke.width;
    ctx.lineCap = ctx.lineJoin = "round";
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0][0], points[0][1], stroke.width / 2, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0][0], points[0][1]);
    for (var i = 1; i < points.length; i++) ctx.lineTo(points[i][0], points[i][1]);
    ctx.stroke();
  }

  function redraw(pad) {
    var canvas = pad.canvas;
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = canvas.dataset.paper || "#000000";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    if (pad.initial) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(pad.initial, 0, 0, canvas.width, canvas.height);
    }
    pad.strokes.forEach(function (stroke) { paint(ctx, stroke); });
  }

  function point(pad, event) {
    var rect = pad.canvas.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * pad.canvas.width) / rect.width,
      ((event.clientY - rect.top) * pad.canvas.height) / rect.height,
    ];
  }

  function hasInk(pad) {
    return pad.strokes.length > 0 || pad.initial !== null;
  }

  /* --- sending, throttled per tab --- */

  function send(pad) {
    pad.dirty = false;
    if (!hasInk(pad) || !window.dash_clientside || !window.dash_clientside.set_props) return;
    var canvas = pad.canvas;
    var small = document.createElement("canvas");
    small.width = parseInt(canvas.dataset.sendWidth, 10) || 112;
    small.height = parseInt(canvas.dataset.sendHeight, 10) || 112;
    var ctx = small.getContext("2d");
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(canvas, 0, 0, small.width, small.height);
    pad.seq += 1;
    var now = performance.now();
    sentTimes.push(now);
    stats.sends += 1;
    stats.lastSend = now;
    stats.sendTimes.push(now);
    if (stats.sendTimes.length > 500) stats.sendTimes.shift();
    window.dash_clientside.set_props(JSON.parse(canvas.dataset.store), {
      data: { png: small.toDataURL("image/png"), seq: pad.seq },
    });
  }

  function nextAllowed(now, final) {
    while (sentTimes.length && sentTimes[0] <= now - WINDOW_MS) sentTimes.shift();
    var at = now;
    if (sentTimes.length >= MAX_PER_SECOND) at = sentTimes[0] + WINDOW_MS;
    var last = sentTimes.length ? sentTimes[sentTimes.length - 1] : -Infinity;
    if (!final) at = Math.max(at, last + STROKE_GAP_MS);
    return at;
  }

  function flush() {
    timer = null;
    var now = performance.now();
    var waiting = Object.keys(pads).filter(function (id) { return pads[id].dirty; });
    if (!waiting.length) return;
    var final = waiting.some(function (id) { return pads[id].final; });
    var at = nextAllowed(now, final);
    if (at > now + 0.5) return schedule(at - now);
    waiting.forEach(function (id) {
      if (document.body.contains(pads[id].canvas)) send(pads[id]);
      pads[id].dirty = false;
    });
  }

  function schedule(delay) {
    var at = performance.now() + delay;
    if (timer !== null && timerAt <= at) return;
    if (timer !== null) clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(flush, Math.max(0, delay));
  }

  function changed(pad, final) {
    pad.dirty = true;
    pad.final = final;
    var now = performance.now();
    schedule(Math.max(0, nextAllowed(now, final) - now));
  }

  /* --- pointer events --- */

  document.addEventListener("pointerdown", function (event) {
    var canvas = event.target;
    if (!(canvas instanceof HTMLCanvasElement) || !canvas.classList.contains("draw-canvas")) {
      return;
    }
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    var pad = padOf(canvas);
    if (pad.current) return; // a second finger while drawing
    canvas.setPointerCapture(event.pointerId);
    pad.pointerId = event.pointerId;
    remember(pad);
    pad.current = { colour: pad.ink, width: penWidth(pad), points: [point(pad, event)] };
    pad.strokes.push(pad.current);
    paint(canvas.getContext("2d"), pad.current);
  });

  document.addEventListener("pointermove", function (event) {
    var canvas = event.target;
    var pad = canvas && canvas.id ? pads[canvas.id] : null;
    if (!pad || pad.canvas !== canvas || !pad.current || event.pointerId !== pad.pointerId) {
      return;
    }
    event.preventDefault();
    var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    if (!events.length) events = [event];
    var ctx = canvas.getContext("2d");
    events.forEach(function (e) {
      var points = pad.current.points;
      var last = points[points.length - 1];
      var next = point(pad, e);
      points.push(next);
      paint(ctx, { colour: pad.current.colour, width: pad.current.width, points: [last, next] });
    });
    changed(pad, false);
  });

  function strokeEnd(event) {
    var canvas = event.target;
    var pad = canvas && canvas.id ? pads[canvas.id] : null;
    if (!pad || pad.canvas !== canvas || !pad.current || event.pointerId !== pad.pointerId) {
      return;
    }
    pad.current = null;
    redraw(pad); // segment by segment overlaps differ from one path: make undo exact
    stats.lastStrokeEnd = performance.now();
    changed(pad, true);
  }
  document.addEventListener("pointerup", strokeEnd);
  document.addEventListener("pointercancel", strokeEnd);

  /* --- tools: pen colour, undo, clear --- */

  function remember(pad) {
    pad.history.push({ strokes: pad.strokes.slice(), initial: pad.initial });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button");
    var box = button && button.closest(".draw-pad");
    if (!box) return;
    var canvas = box.querySelector("canvas.draw-canvas");
    if (!canvas) return;
    var pad = padOf(canvas);
    if (button.classList.contains("draw-swatch")) {
      pad.ink = button.dataset.colour || pad.ink;
      box.querySelectorAll(".draw-swatch").forEach(function (b) {
        b.classList.toggle("active", b === button);
      });
    } else if (button.classList.contains("draw-undo")) {
      var before = pad.history.pop();
      if (!before || pad.current) return;
      pad.strokes = before.strokes;
      pad.initial = before.initial;
      redraw(pad);
      if (hasInk(pad)) changed(pad, true); // a cleared canvas keeps the last digit shown
    } else if (button.classList.contains("draw-clear")) {
      if (!hasInk(pad) || pad.current) return;
      remember(pad);
      pad.strokes = [];
      pad.initial = null;
      redraw(pad);
    }
  });

  // Paint new canvases (the paper colour, a digit from the URL) as soon as Dash renders them.
  function paintNew() {
    document.querySelectorAll("canvas.draw-canvas").forEach(padOf);
  }
  new MutationObserver(paintNew).observe(document.documentElement, {
    childList: true,
    subtree: true,
  });
})();
