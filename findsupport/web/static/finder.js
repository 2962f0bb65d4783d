// The finder page (/ and /embed): form -> /api/v1/search -> list + clustered map.
//
// Plain JavaScript, no build step. Provider-supplied text is only ever put on the
// page with textContent (never innerHTML), so a name or bio cannot inject markup.
// The query lives in the URL (shareable; back/forward re-run it). The list carries
// everything the map shows, so the page works when tiles or Leaflet cannot load.

const root = document.getElementById("finder");
const config = {
  api: root.dataset.api,
  tileUrl: root.dataset.tileUrl,
  tileAttribution: root.dataset.tileAttribution,
  osAttribution: root.dataset.osAttribution,
  defaultRadius: root.dataset.defaultRadius,
  compact: root.dataset.compact === "true",
  maxMessage: root.dataset.maxMessage,
};
// Parameters the page passes to the API (DESIGN.md query fields the form offers).
const QUERY_PARAMS = ["postcode", "lon", "lat", "role", "event", "slots", "mode", "level", "radius_km"];
// Decimal places kept of a browser location: about 100 m, plenty to find the
// nearest postcode, and no more of the coach's position than needed in a URL.
const LOCATION_DECIMALS = 3;
// How many wider radii the empty state asks about (each is one count request).
const WIDER_STEPS = 3;

const form = document.getElementById("search-form");
const postcodeInput = document.getElementById("postcode");
const postcodeError = document.getElementById("postcode-error");
const lonInput = document.getElementById("lon");
const latInput = document.getElementById("lat");
const statusLine = document.getElementById("status");
const list = document.getElementById("result-list");
const emptyState = document.getElementById("empty-state");
const moreButton = document.getElementById("more-results");
const radiusSelect = document.getElementById("radius_km");

let labels = null;
let map = null;
let cluster = null;
let hereMarker = null;
const markers = new Map(); // provider id -> Leaflet marker
let current = null; // {params, nextOffset, total}
let searchSerial = 0; // ignore answers to searches that were overtaken

// ---------------------------------------------------------------- small DOM helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "hidden") node.hidden = true;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function announce(text) {
  statusLine.textContent = text;
}

async function getJSON(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = { title: "Unexpected answer", detail: `The server answered ${response.status} without JSON.` };
  }
  return { ok: response.ok, status: response.status, body };
}

function label(kind, code) {
  return (labels && labels[kind] && labels[kind][code]) || code;
}

function listPhrase(items) {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

// ---------------------------------------------------------------- vocabulary
async function loadLabels() {
  const { ok, body } = await getJSON(`${config.api}/taxonomy`);
  const result = { roles: {}, events: {}, slots: {}, qualifications: {}, modes: {} };
  if (!ok) return result;
  for (const r of body.roles) result.roles[r.code] = r.label;
  for (const g of body.event_groups) {
    result.events[g.code] = g.label;
    for (const e of g.events) result.events[e.code] = e.label;
  }
  for (const s of body.slots) result.slots[s.code] = s.label;
  for (const q of body.qualifications) result.qualifications[q.code] = q.label;
  for (const m of body.modes) result.modes[m.code] = m.label;
  return result;
}

// ---------------------------------------------------------------- map
function setUpMap() {
  if (!window.L) {
    document.getElementById("map-note").hidden = false;
    return;
  }
  const L = window.L;
  map = L.map("map", { scrollWheelZoom: !config.compact }).setView([54.5, -2.5], 5);
  const tiles = L.tileLayer(config.tileUrl, { attribution: config.tileAttribution, maxZoom: 18 });
  tiles.once("tileerror", () => {
    document.getElementById("map-note").hidden = false;
  });
  tiles.addTo(map);
  // Plain text made safe for Leaflet's attribution (which is HTML).
  const os = document.createElement("span");
  os.textContent = config.osAttribution;
  map.attributionControl.addAttribution(os.innerHTML);
  cluster = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 40 });
  map.addLayer(cluster);
}

function popupContent(result, card) {
  const box = el("div", { class: "popup" });
  box.append(el("strong", { text: result.name }));
  box.append(el("div", { text: `${result.area} · ${result.distance_km.toFixed(1)} km` }));
  const button = el("button", { type: "button", class: "link-button", text: "Show in the list" });
  button.addEventListener("click", () => {
    card.scrollIntoView({ behavior: "smooth", block: "center" });
    card.querySelector("h3").focus();
  });
  box.append(button);
  return box;
}

function addMarker(result, card) {
  if (!map) return;
  const L = window.L;
  const marker = L.marker([result.location.lat, result.location.lon], {
    title: result.name,
    alt: `${result.name}, ${result.area}`,
  });
  marker.bindPopup(() => popupContent(result, card));
  marker.on("click", () => highlight(card));
  markers.set(result.id, marker);
  cluster.addLayer(marker);
}

function showHere(location, text) {
  if (!map) return;
  const L = window.L;
  if (hereMarker) hereMarker.remove();
  hereMarker = L.circleMarker([location.lat, location.lon], {
    radius: 8, color: "#1d1d1b", weight: 3, fillColor: "#ffdd00", fillOpacity: 1,
  }).addTo(map);
  hereMarker.bindTooltip(text);
}

function fitMap() {
  if (!map) return;
  const L = window.L;
  const points = [...markers.values()].map((m) => m.getLatLng());
  if (hereMarker) points.push(hereMarker.getLatLng());
  if (points.length === 1) map.setView(points[0], 11);
  else if (points.length > 1) map.fitBounds(L.latLngBounds(points).pad(0.15));
}

function clearMap() {
  markers.clear();
  if (cluster) cluster.clearLayers();
}

function highlight(card) {
  for (const other of list.querySelectorAll(".result.selected")) other.classList.remove("selected");
  card.classList.add("selected");
}

// ---------------------------------------------------------------- form <-> URL
function paramsFromForm() {
  const data = new FormData(form);
  const params = new URLSearchParams();
  const postcode = (data.get("postcode") || "").trim();
  if (postcode) params.set("postcode", postcode);
  else if (data.get("lon") && data.get("lat")) {
    params.set("lon", data.get("lon"));
    params.set("lat", data.get("lat"));
  }
  for (const name of ["role", "event", "level"]) {
    if (data.get(name)) params.set(name, data.get(name));
  }
  if (data.get("mode") && data.get("mode") !== "in_person") params.set("mode", data.get("mode"));
  if (data.get("radius_km") && data.get("radius_km") !== config.defaultRadius) params.set("radius_km", data.get("radius_km"));
  const slots = data.getAll("slots");
  if (slots.length) params.set("slots", slots.join(","));
  return params;
}

function paramsFromUrl() {
  const url = new URLSearchParams(window.location.search);
  const params = new URLSearchParams();
  for (const name of QUERY_PARAMS) {
    for (const value of url.getAll(name)) params.append(name, value);
  }
  return params;
}

function setSelect(select, value) {
  if (!value) {
    select.value = "";
    return;
  }
  if (![...select.options].some((o) => o.value === value)) {
    // A shared URL may carry a radius the menu does not list; offer it.
    select.append(el("option", { value, text: select === radiusSelect ? `${value} km` : value }));
  }
  select.value = value;
}

function fillForm(params) {
  postcodeInput.value = params.get("postcode") || "";
  lonInput.value = params.get("lon") || "";
  latInput.value = params.get("lat") || "";
  setSelect(document.getElementById("role"), params.get("role"));
  setSelect(document.getElementById("event"), params.get("event"));
  setSelect(document.getElementById("level"), params.get("level"));
  setSelect(radiusSelect, params.get("radius_km") || config.defaultRadius);
  setSelect(document.getElementById("mode"), params.get("mode") || "in_person");
  const slots = new Set((params.getAll("slots").join(",") || "").split(",").filter(Boolean));
  for (const box of form.querySelectorAll('input[name="slots"]')) box.checked = slots.has(box.value);
  if (slots.size || params.get("level")) document.getElementById("more-options").open = true;
}

function pageUrl(params) {
  const url = new URL(window.location.href);
  const keep = new URLSearchParams();
  // The embed page keeps its own settings (host) beside the query.
  if (url.searchParams.get("host")) keep.set("host", url.searchParams.get("host"));
  for (const [key, value] of params) keep.append(key, value);
  url.search = keep.toString();
  return url;
}

// ---------------------------------------------------------------- search
function clearResults() {
  list.replaceChildren();
  emptyState.hidden = true;
  emptyState.replaceChildren();
  moreButton.hidden = true;
  clearMap();
}

function clearPostcodeError() {
  postcodeError.replaceChildren();
  postcodeInput.removeAttribute("aria-invalid");
}

function describeQuery(query) {
  const who = query.role ? label("roles", query.role).toLowerCase() : "support";
  const what = query.event ? ` for ${label("events", query.event).toLowerCase()}` : "";
  return { who, what };
}

function placeName(query) {
  if (query.postcode) return query.resolved && query.resolved.postcode ? query.resolved.postcode : query.postcode;
  return query.resolved && query.resolved.postcode ? `your location (near ${query.resolved.postcode})` : "your location";
}

function showProblem(problem) {
  const postcodeProblem = problem.field === "postcode" || /postcode|location/.test(problem.type || "");
  if (postcodeProblem) {
    clearPostcodeError();
    postcodeInput.setAttribute("aria-invalid", "true");
    postcodeError.append(el("p", { text: problem.detail }));
    const suggestions = problem.suggestions || [];
    if (suggestions.length) {
      const row = el("div", { class: "suggestions" }, el("span", { text: "Did you mean " }));
      suggestions.forEach((postcode, i) => {
        const button = el("button", { type: "button", class: "suggestion", text: postcode });
        button.addEventListener("click", () => {
          postcodeInput.value = postcode;
          lonInput.value = latInput.value = "";
          submitSearch();
        });
        row.append(button);
        if (i < suggestions.length - 1) row.append(" ");
      });
      row.append("?");
      postcodeError.append(row);
    }
  }
  announce(problem.detail || problem.title || "The search could not be run.");
}

async function runSearch(params, { append = false } = {}) {
  const serial = ++searchSerial;
  const query = new URLSearchParams(params);
  const offset = append && current ? current.nextOffset : 0;
  if (offset) query.set("offset", String(offset));
  if (!append) {
    clearResults();
    clearPostcodeError();
  }
  announce("Searching…");
  root.setAttribute("aria-busy", "true");
  let answer;
  try {
    answer = await getJSON(`${config.api}/search?${query}`);
  } catch (err) {
    answer = { ok: false, body: { detail: "The finder could not be reached; check your connection and try again." } };
  }
  if (serial !== searchSerial) return;
  root.removeAttribute("aria-busy");
  if (!answer.ok) {
    showProblem(answer.body);
    return;
  }
  const body = answer.body;
  const q = body.query;
  const { who, what } = describeQuery(q);
  const place = placeName(q);
  const firstNew = list.children.length;
  body.results.forEach((result) => {
    const card = renderResult(result, body.search_id);
    list.append(card);
    addMarker(result, card);
  });
  current = { params, nextOffset: offset + body.results.length, total: body.total };
  moreButton.hidden = current.nextOffset >= body.total;
  if (!append) {
    showHere(q.location, `You searched here: ${place}`);
    fitMap();
  }
  if (body.total === 0) {
    announce(`No ${who}${what} within ${q.radius_km} km of ${place}.`);
    showEmptyState(params, q, who, what, place);
  } else {
    const shown = list.children.length;
    const noun = body.total === 1 ? "match" : "matches";
    announce(`${body.total} ${noun} for ${who}${what} within ${q.radius_km} km of ${place}; showing ${shown}.`);
    if (append && list.children[firstNew]) list.children[firstNew].querySelector("h3").focus();
  }
  notifyResize();
}

async function countFor(params) {
  const answer = await getJSON(`${config.api}/search/count?${params}`);
  return answer.ok ? answer.body.total : 0;
}

function relaxButton(text, params) {
  const button = el("button", { type: "button", class: "secondary", text });
  button.addEventListener("click", () => {
    fillForm(params);
    history.pushState(null, "", pageUrl(params));
    runSearch(params);
  });
  return button;
}

async function showEmptyState(params, query, who, what, place) {
  emptyState.hidden = false;
  emptyState.replaceChildren(el("p", { class: "empty-title", text: `No ${who}${what} within ${query.radius_km} km of ${place}.` }));
  const radius = Number(query.radius_km);
  const wider = [...radiusSelect.options].map((o) => Number(o.value)).filter((r) => r > radius).sort((a, b) => a - b).slice(0, WIDER_STEPS);
  const tries = wider.map((r) => {
    const p = new URLSearchParams(params);
    p.set("radius_km", String(r));
    return { kind: "radius", radius: r, params: p };
  });
  if ((query.mode || "in_person") === "in_person") {
    const p = new URLSearchParams(params);
    p.set("mode", "any");
    tries.push({ kind: "online", params: p });
  }
  if (query.event) {
    const p = new URLSearchParams(params);
    p.delete("event");
    tries.push({ kind: "event", params: p });
  }
  const serial = searchSerial;
  const counts = await Promise.all(tries.map((t) => countFor(t.params).catch(() => 0)));
  if (serial !== searchSerial) return;
  const offers = el("div", { class: "relax" });
  const radiusTry = tries.findIndex((t, i) => t.kind === "radius" && counts[i] > 0);
  if (radiusTry >= 0) {
    const t = tries[radiusTry];
    offers.append(relaxButton(`Widen to ${t.radius} km? (${counts[radiusTry]} there)`, t.params));
  }
  tries.forEach((t, i) => {
    if (t.kind === "online" && counts[i] > 0) offers.append(relaxButton(`Include online support? (${counts[i]})`, t.params));
    if (t.kind === "event" && counts[i] > 0) offers.append(relaxButton(`Any event? (${counts[i]})`, t.params));
  });
  if (offers.children.length) {
    emptyState.append(offers);
    announce(`${emptyState.firstChild.textContent} ${[...offers.children].map((b) => b.textContent).join(" ")}`);
  } else {
    emptyState.append(el("p", { text: "Nobody matches nearby yet. Try a different event or kind of help, or online support." }));
  }
  notifyResize();
}

// ---------------------------------------------------------------- one result
function renderResult(result, searchId) {
  const id = `r-${result.position}`;
  const card = el("li", { class: "result", id });
  const heading = el("h3", { tabindex: "-1", id: `${id}-name` });
  heading.append(el("span", { class: "position", text: `${result.position}. ` }), result.name);
  card.append(heading);
  const roles = result.roles.map((r) => label("roles", r)).join(", ");
  // The reasons lead with the distance ("4.2 km away") except for online support found
  // online; the meta line carries it only then, so a card never says it twice.
  const distanceInReasons = result.reasons.length > 0 && result.reasons[0].endsWith(" km away");
  const meta = distanceInReasons ? [roles, result.area] : [roles, result.area, `${result.distance_km.toFixed(1)} km`];
  card.append(el("p", { class: "meta", text: meta.join(" · ") }));
  if (result.reasons.length) {
    const reasons = el("ul", { class: "reasons", "aria-label": "Why this match" });
    for (const reason of result.reasons) reasons.append(el("li", { text: reason }));
    card.append(reasons);
  }
  const free = result.availability.map((s) => label("slots", s));
  card.append(el("p", { class: "availability", text: free.length ? `Free: ${listPhrase(free)}` : "Availability not given" }));
  if (result.online) card.append(el("p", { class: "online", text: "Also offers online support" }));
  if (result.missing.length) {
    card.append(el("p", { class: "missing", text: `Not a full match: ${listPhrase(result.missing)}` }));
  }
  const details = el("div", { class: "details", id: `${id}-details`, hidden: true });
  const intro = introductionForm(result, searchId, `${id}-intro`);
  const detailsButton = el("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-controls": details.id, text: "Details" });
  detailsButton.addEventListener("click", () => toggleDetails(result, searchId, details, detailsButton));
  const introButton = el("button", { type: "button", class: "primary", "aria-expanded": "false", "aria-controls": intro.id, text: "Request an introduction" });
  introButton.addEventListener("click", () => {
    const open = intro.hidden;
    intro.hidden = !open;
    introButton.setAttribute("aria-expanded", String(open));
    if (open) intro.querySelector("input").focus();
    notifyResize();
  });
  const actions = el("div", { class: "actions" }, detailsButton, introButton);
  if (map) {
    const mapButton = el("button", { type: "button", class: "link-button", text: "Show on map" });
    mapButton.addEventListener("click", () => {
      const marker = markers.get(result.id);
      highlight(card);
      if (marker) cluster.zoomToShowLayer(marker, () => marker.openPopup());
    });
    actions.append(mapButton);
  }
  card.append(actions, details, intro);
  return card;
}

async function toggleDetails(result, searchId, box, button) {
  const open = box.hidden;
  box.hidden = !open;
  button.setAttribute("aria-expanded", String(open));
  if (!open || box.dataset.loaded) {
    notifyResize();
    return;
  }
  box.replaceChildren(el("p", { text: "Loading…" }));
  const query = searchId ? `?${new URLSearchParams({ search_id: searchId })}` : "";
  const answer = await getJSON(`${config.api}/providers/${encodeURIComponent(result.id)}${query}`);
  if (!answer.ok) {
    box.replaceChildren(el("p", { class: "field-error", text: answer.body.detail || "Details could not be loaded." }));
    notifyResize();
    return;
  }
  const p = answer.body;
  const facts = el("dl", { class: "facts" });
  const add = (term, value) => {
    if (value === null || value === undefined || value === "") return;
    facts.append(el("dt", { text: term }), el("dd", { text: String(value) }));
  };
  add("Qualification", p.qualification ? label("qualifications", p.qualification) : "Not given");
  add("Club", p.club);
  add("Helps with", p.roles.map((r) => label("roles", r)).join(", "));
  add("Events", p.events.map((e) => label("events", e)).join(", "));
  add("Free", p.availability.length ? p.availability.map((s) => label("slots", s)).join(", ") : "Not given");
  add("Travels", `up to ${p.travel_km} km from ${p.area}`);
  add("Online", p.online ? "Yes" : "No");
  add("Room for", p.spare_capacity === 1 ? "1 more coach" : `${p.spare_capacity} more coaches`);
  box.replaceChildren(facts);
  if (p.bio) box.append(el("p", { class: "bio", text: p.bio }));
  box.dataset.loaded = "true";
  notifyResize();
}

function field(id, text, control) {
  control.id = id;
  return el("div", { class: "field" }, el("label", { for: id, text }), control);
}

function introductionForm(result, searchId, id) {
  const formEl = el("form", { class: "intro", id, hidden: true, novalidate: true, "aria-label": `Request an introduction to ${result.name}` });
  formEl.append(el("p", { class: "hint", text: `${result.name} receives your name, e-mail address and message and can reply to you directly. Their address is not shown to you.` }));
  const name = el("input", { name: "name", type: "text", autocomplete: "name", maxlength: "100", required: true });
  const email = el("input", { name: "email", type: "email", autocomplete: "email", maxlength: "254", required: true });
  const message = el("textarea", { name: "message", rows: "4", maxlength: config.maxMessage, required: true });
  const feedback = el("p", { class: "intro-status", role: "status", "aria-live": "polite" });
  const send = el("button", { type: "submit", class: "primary", text: "Send request" });
  formEl.append(field(`${id}-name`, "Your name", name), field(`${id}-email`, "Your e-mail address", email),
    field(`${id}-message`, "Message (what help you are looking for)", message), send, feedback);
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const input of [name, email, message]) input.removeAttribute("aria-invalid");
    const empty = [name, email, message].find((input) => !input.value.trim());
    if (empty) {
      empty.setAttribute("aria-invalid", "true");
      feedback.textContent = `Please fill in ${formEl.querySelector(`label[for="${empty.id}"]`).textContent.toLowerCase()}.`;
      empty.focus();
      return;
    }
    send.disabled = true;
    feedback.textContent = "Sending…";
    const payload = { provider_id: result.id, name: name.value, email: email.value, message: message.value };
    if (searchId) payload.search_id = searchId;
    let response;
    let body = {};
    try {
      response = await fetch(`${config.api}/introductions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload),
      });
      body = await response.json();
    } catch (err) {
      response = { ok: false };
      body = { detail: "The request could not be sent; check your connection and try again." };
    }
    send.disabled = false;
    if (response.ok) {
      const done = el("p", { class: "intro-done", role: "status", tabindex: "-1", text: body.detail });
      formEl.replaceChildren(done);
      done.focus();
    } else {
      feedback.textContent = body.detail || "The request could not be sent.";
      const bad = { name, email, message }[body.field];
      if (bad) {
        bad.setAttribute("aria-invalid", "true");
        bad.focus();
      }
    }
    notifyResize();
  });
  return formEl;
}

// ---------------------------------------------------------------- embedding
// The embed page tells the widget on the club's page how tall it is, so the
// iframe fits without a scroll bar. The message carries only a height and goes
// only to the origin the widget named (host=...), checked to be an origin.
let hostOrigin = null;
function setUpEmbedding() {
  if (!config.compact || window.parent === window) return;
  const host = new URLSearchParams(window.location.search).get("host");
  if (!host) return;
  try {
    const origin = new URL(host).origin;
    if (origin === host && /^https?:$/.test(new URL(host).protocol)) hostOrigin = origin;
  } catch (err) {
    hostOrigin = null;
  }
  if (!hostOrigin) return;
  new ResizeObserver(notifyResize).observe(document.body);
  notifyResize();
}

function notifyResize() {
  if (!hostOrigin) return;
  const height = Math.ceil(document.documentElement.getBoundingClientRect().height);
  window.parent.postMessage({ type: "findsupport:resize", height }, hostOrigin);
}

// ---------------------------------------------------------------- wiring
function submitSearch() {
  const params = paramsFromForm();
  if (!params.get("postcode") && !params.get("lon")) {
    clearResults();
    clearPostcodeError();
    postcodeInput.setAttribute("aria-invalid", "true");
    postcodeError.append(el("p", { text: "Enter a postcode (e.g. NE21 4LZ) or use your location." }));
    announce("Enter a postcode (e.g. NE21 4LZ) or use your location.");
    postcodeInput.focus();
    return;
  }
  history.pushState(null, "", pageUrl(params));
  runSearch(params);
}

function useLocation() {
  if (!navigator.geolocation) {
    announce("This browser cannot share a location; please type a postcode.");
    return;
  }
  announce("Finding your location…");
  navigator.geolocation.getCurrentPosition(
    (position) => {
      postcodeInput.value = "";
      lonInput.value = position.coords.longitude.toFixed(LOCATION_DECIMALS);
      latInput.value = position.coords.latitude.toFixed(LOCATION_DECIMALS);
      submitSearch();
    },
    () => announce("Your location is not available (permission refused or no signal); please type a postcode."),
    { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 },
  );
}

async function start() {
  labels = await loadLabels();
  setUpMap();
  setUpEmbedding();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitSearch();
  });
  postcodeInput.addEventListener("input", () => {
    lonInput.value = latInput.value = "";
  });
  document.getElementById("use-location").addEventListener("click", useLocation);
  moreButton.addEventListener("click", () => current && runSearch(current.params, { append: true }));
  window.addEventListener("popstate", () => {
    const params = paramsFromUrl();
    fillForm(params);
    if (params.get("postcode") || params.get("lon")) runSearch(params);
    else {
      clearResults();
      announce("");
    }
  });
  const initial = paramsFromUrl();
  fillForm(initial);
  if (initial.get("postcode") || initial.get("lon")) runSearch(initial);
  root.dataset.ready = "true";
}

start();
