/* The digit picker's upload (app/components/digit_picker.py): a file over the limit is not
 * sent. dcc.Upload's max_size drops it unread, silently; here, before that, the picture's size
 * is checked and the server is told only that it was too large (a few bytes, TOO_LARGE in the
 * picker), so that the page shows the same size message as for a file the server refused. */
(function () {
  "use strict";

  var TOO_LARGE = "data:application/x-cnn-lens-too-large;bytes=";

  function check(event, files) {
    var target = event.target instanceof Element ? event.target : null;
    var upload = target && target.closest(".digit-picker-upload");
    var box = upload && upload.closest("[data-max-bytes]");
    var holder = upload && upload.closest("[id^='{']"); // the upload's own (dict) id
    if (!box || !holder || !files || files.length === 0) {
      return;
    }
    var file = files[0];
    var id = JSON.parse(holder.id);
    if (id.subcomponent !== "upload" || file.size <= Number(box.getAttribute("data-max-bytes"))) {
      return;
    }
    window.cnnLensUpload = { refused: file.name, bytes: file.size }; // what tests read
    window.dash_clientside.set_props(id, {
      contents: TOO_LARGE + file.size + ",",
      filename: file.name,
    });
  }

  // capture: before dcc.Upload's own handlers, which then drop the file (max_size)
  document.addEventListener(
    "change",
    function (event) {
      check(event, event.target && event.target.files);
    },
    true
  );
  document.addEventListener(
    "drop",
    function (event) {
      check(event, event.dataTransfer && event.dataTransfer.files);
    },
    true
  );
})();
