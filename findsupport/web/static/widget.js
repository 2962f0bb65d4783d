// findsupport widget: one <script> line puts the finder on a club's page.
//
//   <script src="https://finder.example/widget.js" data-postcode="NE21 4LZ"
//           data-event="jumps" data-role="mentor" async></script>
//
// Options (data- attributes; /widget builds the line for you):
//   data-postcode, data-role, data-event, data-mode, data-radius-km, data-slots,
//   data-level   the search the finder starts with (the same names as the API)
//   data-view    "map" (default): list and map; the frame grows with the finder,
//                up to the height of the window, then scrolls inside.
//                "list": the compact list-first finder, without the map, in a frame
//                of a set height (data-height) with a link to the full finder.
//   data-height  the frame's height in px for the list view (320-1200; default 600)
//   data-accent  a hex colour (#7a1f1f) for buttons and links; the finder darkens
//                it if white text on it would be hard to read
//   data-title   the frame's title for screen readers
//
// The finder runs in an <iframe> of /embed created right where the script tag
// stands, so the club's styles and ours never clash. It reports to this page
// with postMessage, and only messages from the finder's own origin and from
// this very frame are believed. The widget passes them on as DOM events on the
// frame (they bubble), so the club's page can react:
//
//   document.addEventListener("findsupport:search", (e) => console.log(e.detail.total));
//   document.addEventListener("findsupport:introduction", (e) => console.log(e.detail.provider_id));
//
//   findsupport:search        {total, totals: {near, online} | null, shown}: a search finished
//   findsupport:introduction  {provider_id}: the coach sent a request for an introduction
//   (findsupport:resize       {height}: used by the widget itself)
//
// No message carries anything the coach typed.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var finderOrigin = new URL(script.src).origin;
  // The query fields a club may preset (the same names as the API and /embed).
  var PRESETS = ["postcode", "role", "event", "mode", "radius_km", "slots", "level"];
  var VIEWS = ["map", "list"];
  var ACCENT = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i;
  // Height before the finder reports its own: room for the form without a jump.
  var INITIAL_HEIGHT_PX = 640;
  // The frame never grows past the window (nor this), so what the finder shows is on screen.
  var MAX_HEIGHT_PX = 1600;
  // Below these the finder's own layout no longer fits.
  var MIN_HEIGHT_PX = 320;
  var MIN_WIDTH_PX = 300;
  // The list view's frame height, and its bounds.
  var LIST_HEIGHT_PX = 600;
  var LIST_MAX_HEIGHT_PX = 1200;
  var EVENTS = { "findsupport:search": true, "findsupport:introduction": true };

  function option(name) {
    return script.getAttribute("data-" + name.replace("_", "-"));
  }

  var params = new URLSearchParams();
  PRESETS.forEach(function (name) {
    var value = option(name);
    if (value) params.set(name, value);
  });
  var view = VIEWS.indexOf(option("view")) >= 0 ? option("view") : "map";
  if (view !== "map") params.set("view", view);
  var accent = ACCENT.exec(option("accent") || "");
  if (accent) params.set("accent", accent[1]);
  params.set("host", window.location.origin);
  var listHeight = Number(option("height"));
  if (!isFinite(listHeight) || listHeight <= 0) listHeight = LIST_HEIGHT_PX;
  listHeight = Math.max(MIN_HEIGHT_PX, Math.min(LIST_MAX_HEIGHT_PX, Math.round(listHeight)));

  var frame = document.createElement("iframe");
  frame.src = finderOrigin + "/embed?" + params.toString();
  frame.title = option("title") || "Find coaching support";
  frame.loading = "lazy";
  frame.allow = "geolocation";
  frame.referrerPolicy = "strict-origin-when-cross-origin";
  frame.className = "findsupport-widget";
  frame.style.width = "100%";
  frame.style.minWidth = MIN_WIDTH_PX + "px";
  frame.style.border = "0";
  frame.style.display = "block";
  frame.style.height = (view === "list" ? listHeight : INITIAL_HEIGHT_PX) + "px";
  script.parentNode.insertBefore(frame, script.nextSibling);

  function maxHeight() {
    return Math.max(MIN_HEIGHT_PX, Math.min(MAX_HEIGHT_PX, window.innerHeight || MAX_HEIGHT_PX));
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== finderOrigin || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || typeof data.type !== "string") return;
    if (data.type === "findsupport:resize") {
      if (view === "list") return; // a set height: the finder scrolls inside
      var height = Number(data.height);
      if (!isFinite(height) || height <= 0) return;
      frame.style.height = Math.max(MIN_HEIGHT_PX, Math.min(Math.ceil(height), maxHeight())) + "px";
    } else if (EVENTS[data.type]) {
      var detail = {};
      Object.keys(data).forEach(function (key) {
        if (key !== "type") detail[key] = data[key];
      });
      frame.dispatchEvent(new CustomEvent(data.type, { bubbles: true, detail: detail }));
    }
  });
})();
