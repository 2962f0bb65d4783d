// findsupport widget: one <script> line puts the finder on a club's page.
//
//   <script src="https://finder.example/widget.js" data-postcode="NE21 4LZ"
//           data-event="jumps" data-role="mentor" async></script>
//
// The finder runs in an <iframe> of /embed created right where the script tag
// stands, so the club's styles and ours never clash. The frame fills the width
// of its container and grows to the finder's height, which /embed reports with
// postMessage; only messages from the finder's own origin and from this very
// frame are believed.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var finderOrigin = new URL(script.src).origin;
  // The query fields a club may preset (the same names as the API and /embed).
  var PRESETS = ["postcode", "role", "event", "mode", "radius_km", "slots", "level"];
  // Height before the finder reports its own: room for the form without a jump.
  var INITIAL_HEIGHT_PX = 640;
  // Never grow beyond this, whatever a message says (a frame cannot take over the page).
  var MAX_HEIGHT_PX = 5000;

  var params = new URLSearchParams();
  PRESETS.forEach(function (name) {
    var value = script.getAttribute("data-" + name.replace("_", "-"));
    if (value) params.set(name, value);
  });
  params.set("host", window.location.origin);

  var frame = document.createElement("iframe");
  frame.src = finderOrigin + "/embed?" + params.toString();
  frame.title = script.getAttribute("data-title") || "Find coaching support";
  frame.loading = "lazy";
  frame.allow = "geolocation";
  frame.referrerPolicy = "strict-origin-when-cross-origin";
  frame.className = "findsupport-widget";
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.display = "block";
  frame.style.height = INITIAL_HEIGHT_PX + "px";
  script.parentNode.insertBefore(frame, script.nextSibling);

  window.addEventListener("message", function (event) {
    if (event.origin !== finderOrigin || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || data.type !== "findsupport:resize") return;
    var height = Number(data.height);
    if (!isFinite(height) || height <= 0) return;
    frame.style.height = Math.min(Math.ceil(height), MAX_HEIGHT_PX) + "px";
  });
})();
