// The web console: plain DOM, no framework, no build step. Every check of what the user typed is
// the API's own: the page sends it and shows each `errors[].path` at the field it names.
// The API key lives in sessionStorage only (gone when the tab closes), never in a URL.
// State that matters (which page, automation, run, metric, filters) is in the hash route.

const KEY = "automations.api_key";

const TRIGGERS = {
  CREATE_ARTIFACT: "An artifact version is created",
  LINK_ARTIFACT: "An artifact version is linked",
  UNLINK_ARTIFACT: "An artifact version is unlinked",
  ADD_ARTIFACT_ALIAS: "An alias is added",
  ADD_ARTIFACT_TAG: "A tag is added to a version",
  REMOVE_ARTIFACT_TAG: "A tag is removed from a version",
  ADD_COLLECTION_TAG: "A tag is added to a collection",
  REMOVE_COLLECTION_TAG: "A tag is removed from a collection",
  RUN_STATE: "A run changes state",
  RUN_METRIC_THRESHOLD: "A run metric crosses a threshold",
  RUN_METRIC_CHANGE: "A run metric changes",
  RUN_METRIC_ZSCORE: "A run metric is an outlier (z-score)",
};
const METRIC_KINDS = ["RUN_METRIC_THRESHOLD", "RUN_METRIC_CHANGE", "RUN_METRIC_ZSCORE"];
const SCOPES = ["project", "registry", "collection", "entity"];
const CMPS = { $gt: ">", $gte: "≥", $lt: "<", $lte: "≤", $eq: "=", $ne: "≠" };
const OPS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$contains", "$exists"];
const ARTIFACT_FIELDS = ["alias", "tag", "collection", "collection_type", "author", "metadata."];
const RUN_FIELDS = ["display_name", "run_id", "username", "state", "tags", "config."];
const COND_LABELS = { window: "Window", cmp: "Comparison", threshold: "Threshold", current_window: "Current window", prior_window: "Prior window", amount: "Amount" };
const STATES = ["pending", "running", "finished", "failed", "crashed"];
// The seed's defaults, pre-filled in a new automation (SPEC section 5). The aggregation starts
// at AVERAGE: with none the condition reads the last value alone and the windows are 1.
const DEFAULTS = {
  RUN_METRIC_THRESHOLD: { agg: "AVERAGE", window: 5, cmp: "$gt", threshold: "" },
  RUN_METRIC_CHANGE: { agg: "AVERAGE", current_window: 10, prior_window: 50, change_type: "RELATIVE", change_dir: "ANY", amount: "" },
  RUN_METRIC_ZSCORE: { window: 30, threshold: 3, change_dir: "ANY" },
};

// ---------- small DOM helpers ----------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

/// A labelled control. `path` is the API field it sets: errors at that path are shown under it.
function field(labelText, control, { path, hint } = {}) {
  control.id = control.id || nextId("f");
  const wrap = h("div", { class: "field" }, h("label", { for: control.id }, labelText), control);
  if (hint) wrap.append(h("p", { class: "note" }, hint));
  if (path) {
    wrap.dataset.path = path;
    control.dataset.path = path;
  }
  return wrap;
}

function select(options, value, attrs = {}) {
  const s = h("select", attrs);
  for (const o of options) {
    const [v, text] = Array.isArray(o) ? o : [o, o];
    s.append(h("option", { value: v }, text));
  }
  if (value !== undefined && value !== null) s.value = value;
  return s;
}

const text = (value, attrs = {}) => h("input", { type: "text", value: value ?? "", ...attrs });
const fmtTime = (t) => (t ? new Date(t).toLocaleString() : "—");

function banner(kind, message) {
  return h("div", { class: `banner ${kind}`, role: kind === "bad" ? "alert" : "status" }, message);
}

// ---------- the API ----------

const apiKey = () => sessionStorage.getItem(KEY);

class ApiError extends Error {
  constructor(res) {
    super(res.json?.detail || `HTTP ${res.status}`);
    this.res = res;
  }
}

/// Call the API (paths relative to the page, so it works under any base path).
async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path.replace(/^\//, ""), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const raw = await r.text();
  let json = null;
  try { json = raw ? JSON.parse(raw) : null; } catch { json = null; }
  const res = { status: r.status, ok: r.ok, json, raw };
  if (r.status === 401 && path !== "/v1/automations?limit=1") {
    signOut("Your key was refused; sign in again.");
  }
  if (!r.ok) throw new ApiError(res);
  return json;
}

/// Show the problem's field errors at their fields inside `form`; the rest (and the detail) in
/// `summary`. A path is shown at the field with that path, else at the nearest field whose path
/// is a prefix of it.
function showErrors(form, summary, err) {
  clearErrors(form, summary);
  const problem = err.res?.json;
  const errors = problem?.errors || [];
  const unplaced = [];
  const fields = [...form.querySelectorAll("div.field[data-path]")].filter((f) => f.offsetParent !== null);
  for (const e of errors) {
    let target = null;
    let best = -1;
    for (const f of fields) {
      const p = f.dataset.path;
      const matches = e.path === p || e.path.startsWith(`${p}.`) || e.path.startsWith(`${p}[`);
      if (matches && p.length > best) { target = f; best = p.length; }
    }
    if (!target) { unplaced.push(e); continue; }
    const control = target.querySelector("[data-path]");
    const msg = h("p", { class: "error", id: nextId("err"), "data-error-for": e.path }, e.message);
    target.append(msg);
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", msg.id);
    }
  }
  const detail = problem?.detail || err.message;
  summary.append(banner("bad", errors.length ? "The API refused this; see the fields marked below." : detail));
  if (unplaced.length) {
    summary.append(h("ul", { class: "error" }, unplaced.map((e) => h("li", {}, `${e.path || "(body)"}: ${e.message}`))));
  }
  const first = form.querySelector("[aria-invalid=true]");
  if (first) first.focus();
}

function clearErrors(form, summary) {
  form.querySelectorAll("p.error").forEach((e) => e.remove());
  form.querySelectorAll("[aria-invalid]").forEach((e) => { e.removeAttribute("aria-invalid"); e.removeAttribute("aria-describedby"); });
  summary.replaceChildren();
}

// ---------- routing ----------

function route() {
  const hash = location.hash.replace(/^#/, "") || "/automations";
  const [path, query] = hash.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), params: new URLSearchParams(query || "") };
}

function go(path, params) {
  const q = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v != null)).toString() : "";
  location.hash = `#${path}${q ? `?${q}` : ""}`;
}

const main = () => document.getElementById("main");

function page(title, ...content) {
  document.title = `${title} · Automations`;
  const heading = h("h1", { tabindex: "-1" }, title);
  main().replaceChildren(heading, ...content.filter((c) => c !== null && c !== undefined && c !== false));
  heading.focus();
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  render(message);
}

async function render(message) {
  const nav = document.getElementById("nav");
  const out = document.getElementById("signout");
  if (!apiKey()) {
    nav.hidden = true;
    out.hidden = true;
    return signIn(message);
  }
  nav.hidden = false;
  out.hidden = false;
  const { parts, params } = route();
  const section = parts[0] || "automations";
  for (const a of nav.querySelectorAll("a")) {
    if (a.getAttribute("href") === `#/${section}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (section === "automations" && parts[1] === "new") return await editor(null, params);
    if (section === "automations" && parts[1] && parts[2] === "executions") return await executions(parts[1]);
    if (section === "automations" && parts[1]) return await editor(parts[1], params);
    if (section === "integrations") return await integrations();
    if (section === "runs") return await runChart(params);
    return await automations(params);
  } catch (e) {
    if (e instanceof ApiError && e.res.status === 401) return;
    page("Something went wrong", banner("bad", e.message));
  }
}

// ---------- sign in ----------

function signIn(message) {
  const key = h("input", { type: "password", autocomplete: "off", required: true, "data-path": "key" });
  const summary = h("div", { "aria-live": "polite" });
  if (message) summary.append(banner("bad", message));
  const form = h("form", { id: "signin", novalidate: true },
    field("API key", key, { hint: "From automations keys create --entity E. Kept in this tab's session storage only." }),
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, key.value.trim());
    try {
      await api("GET", "/v1/automations?limit=1");
      render();
    } catch (e) {
      sessionStorage.removeItem(KEY);
      summary.replaceChildren(banner("bad", e.res?.status === 401 ? "That key was refused." : e.message));
      key.focus();
    }
  });
  page("Sign in", summary, form);
  key.focus();
}

// ---------- automations list ----------

function scopeText(s) {
  if (!s) return "";
  switch (s.type) {
    case "project": return `project ${s.project}`;
    case "registry": return `registry ${s.registry}`;
    case "collection": return `collection ${s.collection} in ${s.project ? `project ${s.project}` : `registry ${s.registry}`}`;
    default: return `entity ${s.entity}`;
  }
}

function actionText(a) {
  if (!a || a.type === "none") return "none";
  return `${a.type} → ${a.integration}`;
}

async function fireStats(id) {
  const page = await api("GET", `/v1/automations/${encodeURIComponent(id)}/executions?limit=200`);
  const items = page.items || [];
  const day = Date.now() - 24 * 3600 * 1000;
  return {
    last: items[0]?.created_at || null,
    day: items.filter((e) => Date.parse(e.created_at) >= day).length,
    more: !!page.next_cursor,
  };
}

async function automations(params) {
  const q = { scope: params.get("scope") || "", event_type: params.get("event_type") || "", enabled: params.get("enabled") || "" };
  const qs = new URLSearchParams({ limit: "200", ...Object.fromEntries(Object.entries(q).filter(([, v]) => v)) });
  const list = await api("GET", `/v1/automations?${qs}`);
  const filters = h("form", { class: "row", "aria-label": "Filters" },
    field("Scope", select([["", "any"], ...SCOPES], q.scope, { name: "scope" })),
    field("Event", select([["", "any"], ...Object.keys(TRIGGERS)], q.event_type, { name: "event_type" })),
    field("Enabled", select([["", "any"], ["true", "enabled"], ["false", "disabled"]], q.enabled, { name: "enabled" })));
  filters.addEventListener("change", () => {
    const f = new FormData(filters);
    go("/automations", Object.fromEntries(f.entries()));
  });
  filters.addEventListener("submit", (e) => e.preventDefault());
  const rows = (list.items || []).map((a) => {
    const toggle = h("input", { type: "checkbox", role: "switch", class: "switch", checked: a.enabled, "aria-label": `Enabled: ${a.name}` });
    const status = h("span", { class: "note", "aria-live": "polite" });
    toggle.addEventListener("change", async () => {
      const want = toggle.checked;
      toggle.disabled = true;
      try {
        const updated = await api("POST", `/v1/automations/${encodeURIComponent(a.id)}/${want ? "enable" : "disable"}`);
        toggle.checked = updated.enabled;
        status.textContent = updated.enabled ? "on" : "off";
      } catch (e) {
        toggle.checked = !want;
        status.textContent = e.message;
      } finally {
        toggle.disabled = false;
      }
    });
    const last = h("td", {}, "…");
    const day = h("td", {}, "…");
    fireStats(a.id).then((s) => {
      last.textContent = s.last ? fmtTime(s.last) : "never";
      day.textContent = `${s.day}${s.more ? "+" : ""}`;
    }).catch((e) => { last.textContent = e.res?.status === 501 ? "n/a" : "?"; day.textContent = "?"; });
    return h("tr", { "data-id": a.id },
      h("td", {}, h("a", { href: `#/automations/${encodeURIComponent(a.id)}` }, a.name)),
      h("td", {}, a.event.type),
      h("td", {}, scopeText(a.scope)),
      h("td", {}, actionText(a.action)),
      h("td", {}, toggle, " ", status),
      last, day,
      h("td", {}, h("a", { href: `#/automations/${encodeURIComponent(a.id)}/executions`, "aria-label": `Executions of ${a.name}` }, "Executions")));
  });
  const table = rows.length
    ? h("table", { "aria-label": "Automations" },
      h("thead", {}, h("tr", {}, ["Name", "Event", "Scope", "Action", "Enabled", "Last fire", "Fires (24 h)", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))
    : h("p", {}, "No automations match.");
  page("Automations", h("p", {}, h("a", { href: "#/automations/new" }, "New automation")), filters, table);
}

// ---------- filter builder ----------

/// A small builder (field, operator, value; all with and / or) beside the raw filter JSON. The
/// JSON is what is sent; the builder writes it, and reads it back when it can.
function filterEditor(labelText, path, fields, value) {
  const wrap = h("fieldset", {}, h("legend", {}, labelText));
  const rowsEl = h("div");
  const comb = select([["$and", "all of (and)"], ["$or", "any of (or)"]], "$and");
  const raw = h("textarea", { spellcheck: "false" });
  const listId = nextId("fields");
  const datalist = h("datalist", { id: listId }, fields.map((f) => h("option", { value: f })));
  const note = h("p", { class: "note", "aria-live": "polite" });
  const rows = [];

  function parseValue(op, s) {
    if (op === "$in" || op === "$nin") return s.split(",").map((x) => x.trim()).filter(Boolean).map(scalar);
    if (op === "$exists") return s.trim() !== "false";
    if (op === "$regex" || op === "$contains") return s;
    return scalar(s);
  }
  function scalar(s) {
    const t = s.trim();
    if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(t)) return Number(t);
    if (t === "true" || t === "false") return t === "true";
    return s;
  }
  function showValue(v) { return Array.isArray(v) ? v.join(", ") : String(v); }

  function write() {
    const clauses = rows.filter((r) => r.f.value.trim()).map((r) => ({ [r.f.value.trim()]: { [r.op.value]: parseValue(r.op.value, r.v.value) } }));
    raw.value = clauses.length === 0 ? "" : JSON.stringify(clauses.length === 1 ? clauses[0] : { [comb.value]: clauses }, null, 2);
    note.textContent = "";
  }
  function addRow(f = "", op = "$eq", v = "") {
    const n = rows.length + 1;
    const r = {
      f: text(f, { list: listId, "aria-label": `Condition ${n} field` }),
      op: select(OPS, op, { "aria-label": `Condition ${n} operator` }),
      v: text(v, { "aria-label": `Condition ${n} value` }),
    };
    r.el = h("div", { class: "builder-row" }, r.f, r.op, r.v,
      h("button", { type: "button", "aria-label": `Remove condition ${n}`, onclick: () => { rows.splice(rows.indexOf(r), 1); r.el.remove(); write(); } }, "Remove"));
    for (const c of [r.f, r.op, r.v]) c.addEventListener("input", write);
    rows.push(r);
    rowsEl.append(r.el);
  }
  /// Fill the builder from a filter it can show: `{f: {op: v}}`, `{f: v}`, or an $and/$or of those.
  function read(filter) {
    rows.splice(0).forEach((r) => r.el.remove());
    if (!filter || Object.keys(filter).length === 0) return true;
    let clauses = [filter];
    const keys = Object.keys(filter);
    if (keys.length === 1 && (keys[0] === "$and" || keys[0] === "$or") && Array.isArray(filter[keys[0]])) {
      comb.value = keys[0];
      clauses = filter[keys[0]];
    }
    const parsed = [];
    for (const c of clauses) {
      const ks = Object.keys(c || {});
      if (ks.length !== 1 || ks[0].startsWith("$")) return false;
      const v = c[ks[0]];
      if (v && typeof v === "object" && !Array.isArray(v)) {
        const ops = Object.keys(v);
        if (ops.length !== 1 || !OPS.includes(ops[0])) return false;
        parsed.push([ks[0], ops[0], showValue(v[ops[0]])]);
      } else parsed.push([ks[0], "$eq", showValue(v)]);
    }
    parsed.forEach((p) => addRow(...p));
    return true;
  }
  raw.addEventListener("input", () => {
    try {
      const v = raw.value.trim() ? JSON.parse(raw.value) : null;
      note.textContent = read(v) ? "" : "The builder cannot show this filter; the JSON is what is saved.";
    } catch {
      note.textContent = "Not JSON yet.";
    }
  });
  comb.addEventListener("change", write);
  if (value && Object.keys(value).length) {
    raw.value = JSON.stringify(value, null, 2);
    if (!read(value)) note.textContent = "The builder cannot show this filter; the JSON is what is saved.";
  }
  wrap.append(
    h("div", { class: "row" }, field("Combine", comb)),
    rowsEl, datalist,
    h("button", { type: "button", onclick: () => addRow() }, "Add condition"),
    field(`${labelText} JSON`, raw, { path, hint: "MongoDB-like ($and $or $eq $in $regex …), for anything the builder cannot express." }),
    note);
  return {
    el: wrap,
    value() {
      if (!raw.value.trim()) return undefined;
      try { return JSON.parse(raw.value); } catch { return { __invalid_json__: raw.value }; }
    },
  };
}

// ---------- editor ----------

async function editor(id, params) {
  const [existing, ints] = await Promise.all([
    id ? api("GET", `/v1/automations/${encodeURIComponent(id)}`) : null,
    api("GET", "/v1/integrations?limit=200").catch(() => ({ items: [] })),
  ]);
  const doc = existing || {
    name: "",
    scope: { type: "project", project: params.get("project") || "" },
    event: { type: params.get("metric") ? "RUN_METRIC_THRESHOLD" : "RUN_METRIC_THRESHOLD", metric: { name: params.get("metric") || "", ...DEFAULTS.RUN_METRIC_THRESHOLD } },
    action: { type: "none" },
    enabled: true,
  };
  const integrationsList = ints.items || [];
  const summary = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, "aria-label": "Automation" });

  // Basics
  const name = text(doc.name, { autocomplete: "off" });
  const description = text(doc.description || "");
  const enabled = h("input", { type: "checkbox", checked: doc.enabled !== false });

  // Scope
  const scopeType = select(SCOPES, doc.scope.type);
  const scopeEntity = text(doc.scope.entity || "", { placeholder: "the key's entity" });
  const scopeProject = text(doc.scope.project || "");
  const scopeRegistry = text(doc.scope.registry || "");
  const scopeCollection = text(doc.scope.collection || "");
  const fProject = field("Project", scopeProject, { path: "scope.project" });
  const fRegistry = field("Registry", scopeRegistry, { path: "scope.registry" });
  const fCollection = field("Collection", scopeCollection, { path: "scope.collection" });

  // Event
  const eventType = select(Object.entries(TRIGGERS).map(([k, v]) => [k, `${v} (${k})`]), doc.event.type);
  const m = doc.event.metric || {};
  const metricName = text(m.name || "", { autocomplete: "off" });
  const agg = select([["", "none (the last value)"], "MAX", "MIN", "AVERAGE"], m.agg || "");
  const num = (v) => h("input", { type: "number", step: "any", value: v ?? "" });
  const window_ = num(m.window);
  const cmp = select(Object.entries(CMPS).map(([k, v]) => [k, `${v} (${k})`]), m.cmp || "$gt");
  const threshold = num(m.threshold);
  const currentWindow = num(m.current_window);
  const priorWindow = num(m.prior_window);
  const changeType = select(["RELATIVE", "ABSOLUTE"], m.change_type || "RELATIVE");
  const changeDir = select(["INCREASE", "DECREASE", "ANY"], m.change_dir || "ANY");
  const amount = num(m.amount);
  const cooldown = text(doc.event.cooldown ?? "", { placeholder: "24h" });
  const metricFields = {
    agg: field("Aggregation", agg, { path: "event.metric.agg", hint: "None: the last value alone." }),
    window: field("Window (values)", window_, { path: "event.metric.window" }),
    cmp: field("Comparison", cmp, { path: "event.metric.cmp" }),
    threshold: field("Threshold", threshold, { path: "event.metric.threshold" }),
    current_window: field("Current window", currentWindow, { path: "event.metric.current_window" }),
    prior_window: field("Prior window", priorWindow, { path: "event.metric.prior_window" }),
    change_type: field("Change type", changeType, { path: "event.metric.change_type" }),
    change_dir: field("Direction", changeDir, { path: "event.metric.change_dir" }),
    amount: field("Amount", amount, { path: "event.metric.amount", hint: "Relative: 0.25 is 25%." }),
  };
  const KIND_FIELDS = {
    RUN_METRIC_THRESHOLD: ["agg", "window", "cmp", "threshold"],
    RUN_METRIC_CHANGE: ["agg", "current_window", "prior_window", "change_type", "change_dir", "amount"],
    RUN_METRIC_ZSCORE: ["window", "threshold", "change_dir"],
  };
  const metricBox = h("fieldset", {}, h("legend", {}, "Metric condition"),
    field("Metric name", metricName, { path: "event.metric.name" }),
    h("div", { class: "row" }, Object.values(metricFields)),
    field("Cooldown", cooldown, { path: "event.cooldown", hint: "Seconds, or 90s, 30m, 6h, 7d (1 minute to 30 days; default 24h)." }));
  const stateBoxes = STATES.map((s) => h("input", { type: "checkbox", value: s, id: nextId("st"), checked: (doc.event.states || []).includes(s) }));
  const statesField = h("fieldset", { "data-path": "event.states", class: "field" }, h("legend", {}, "New states (none: any but killed)"),
    stateBoxes.map((b) => h("span", {}, b, " ", h("label", { for: b.id, class: "inline" }, b.value), " ")));
  statesField.querySelector("input").dataset.path = "event.states";
  const artifactFilter = filterEditor("Artifact filter", "event.filter", ARTIFACT_FIELDS, doc.event.filter);
  const runFilter = filterEditor("Run filter", "event.run_filter", RUN_FIELDS, doc.event.run_filter);

  // Action
  const actionType = select([["none", "none (record only)"], "webhook", "slack"], doc.action.type);
  const integration = select([], "");
  const payload = h("textarea", { spellcheck: "false" });
  payload.value = doc.action.payload || "";
  const title = text(doc.action.title || "");
  const message = text(doc.action.message || "");
  const severity = select(["INFO", "WARN", "ERROR"], doc.action.severity || "INFO");
  const varsEl = h("div", { class: "vars", "aria-label": "Template variables" });
  const previewOut = h("div", { "aria-live": "polite" });
  function fillIntegrations() {
    const want = actionType.value;
    const current = integration.value || doc.action.integration || "";
    integration.replaceChildren(h("option", { value: "" }, "choose…"),
      ...integrationsList.filter((i) => i.type === want).map((i) => h("option", { value: i.name }, i.name)));
    integration.value = current;
  }
  const fIntegration = field("Integration", integration, { path: "action.integration", hint: "Integrations of this type (see the Integrations page)." });
  const fPayload = field("Payload template (JSON)", payload, { path: "action.payload", hint: "Empty: the documented default payload. ${variable}s are JSON-escaped." });
  const fSlack = h("div", { class: "row" },
    field("Title", title, { path: "action.title" }), field("Message", message, { path: "action.message" }), field("Severity", severity, { path: "action.severity" }));

  function layout() {
    const st = scopeType.value;
    fProject.classList.toggle("hidden", !(st === "project" || st === "collection"));
    fRegistry.classList.toggle("hidden", !(st === "registry" || st === "collection"));
    fCollection.classList.toggle("hidden", st !== "collection");
    const et = eventType.value;
    const isMetric = METRIC_KINDS.includes(et);
    metricBox.classList.toggle("hidden", !isMetric);
    for (const [k, f] of Object.entries(metricFields)) f.classList.toggle("hidden", !isMetric || !KIND_FIELDS[et].includes(k));
    statesField.classList.toggle("hidden", et !== "RUN_STATE");
    runFilter.el.classList.toggle("hidden", !(isMetric || et === "RUN_STATE"));
    artifactFilter.el.classList.toggle("hidden", isMetric || et === "RUN_STATE");
    const at = actionType.value;
    fIntegration.classList.toggle("hidden", at === "none");
    fPayload.classList.toggle("hidden", at !== "webhook");
    varsEl.classList.toggle("hidden", at !== "webhook");
    fSlack.classList.toggle("hidden", at !== "slack");
    fillIntegrations();
  }
  // A new kind of condition starts from the seed's defaults.
  let lastKind = eventType.value;
  eventType.addEventListener("change", () => {
    const k = eventType.value;
    if (METRIC_KINDS.includes(k) && k !== lastKind) {
      const d = DEFAULTS[k];
      window_.value = d.window ?? "";
      threshold.value = d.threshold ?? "";
      currentWindow.value = d.current_window ?? "";
      priorWindow.value = d.prior_window ?? "";
      if (d.change_type) changeType.value = d.change_type;
      if (d.change_dir) changeDir.value = d.change_dir;
      if (d.cmp) cmp.value = d.cmp;
      agg.value = d.agg || "";
      amount.value = d.amount ?? "";
    }
    lastKind = k;
    layout();
  });
  scopeType.addEventListener("change", layout);
  actionType.addEventListener("change", layout);

  /// The document the form says, with only the fields of the chosen kinds.
  function build() {
    const numberOr = (el) => (el.value.trim() === "" ? undefined : Number(el.value));
    const out = { name: name.value, enabled: enabled.checked };
    if (description.value.trim()) out.description = description.value;
    const st = scopeType.value;
    const scope = { type: st };
    if (scopeEntity.value.trim()) scope.entity = scopeEntity.value.trim();
    if (st === "project" || st === "collection") { if (scopeProject.value.trim()) scope.project = scopeProject.value.trim(); }
    if (st === "registry" || st === "collection") { if (scopeRegistry.value.trim()) scope.registry = scopeRegistry.value.trim(); }
    if (st === "collection") scope.collection = scopeCollection.value.trim() || undefined;
    out.scope = scope;
    const et = eventType.value;
    const event = { type: et };
    if (METRIC_KINDS.includes(et)) {
      const metric = { name: metricName.value.trim() };
      const all = { agg: agg.value || undefined, window: numberOr(window_), cmp: cmp.value, threshold: numberOr(threshold),
        current_window: numberOr(currentWindow), prior_window: numberOr(priorWindow), change_type: changeType.value,
        change_dir: changeDir.value, amount: numberOr(amount) };
      for (const k of KIND_FIELDS[et]) if (all[k] !== undefined) metric[k] = all[k];
      event.metric = metric;
      if (cooldown.value.trim()) event.cooldown = /^\d+$/.test(cooldown.value.trim()) ? Number(cooldown.value.trim()) : cooldown.value.trim();
      const rf = runFilter.value();
      if (rf !== undefined) event.run_filter = rf;
    } else if (et === "RUN_STATE") {
      const states = stateBoxes.filter((b) => b.checked).map((b) => b.value);
      if (states.length) event.states = states;
      const rf = runFilter.value();
      if (rf !== undefined) event.run_filter = rf;
    } else {
      const f = artifactFilter.value();
      if (f !== undefined) event.filter = f;
    }
    out.event = event;
    const at = actionType.value;
    const action = { type: at };
    if (at !== "none") action.integration = integration.value || undefined;
    if (at === "webhook" && payload.value.trim()) action.payload = payload.value;
    if (at === "slack") Object.assign(action, { title: title.value, message: message.value, severity: severity.value });
    out.action = action;
    return out;
  }

  /// A merge patch (RFC 7396) that takes `from` to `to`: members gone are `null`.
  function diff(from, to) {
    const patch = {};
    for (const k of Object.keys(from)) if (!(k in to) && !["id", "created_at", "updated_at"].includes(k)) patch[k] = null;
    for (const [k, v] of Object.entries(to)) {
      const old = from[k];
      if (v && typeof v === "object" && !Array.isArray(v) && old && typeof old === "object" && !Array.isArray(old)) {
        // Recursively, so clauses the user removed from a filter are nulled, not kept.
        patch[k] = diff(old, v);
      } else patch[k] = v;
    }
    return patch;
  }

  async function preview() {
    previewOut.replaceChildren();
    clearErrors(form, summary);
    try {
      const res = await api("POST", "/v1/automations/preview", build());
      varsEl.replaceChildren(h("p", { class: "note" }, "Variables (click to insert; values from a sample event):"),
        ...Object.entries(res.variables).map(([k, v]) => h("button", {
          type: "button", class: v === null ? "na" : null, title: v === null ? "does not apply to this event" : `sample: ${v}`,
          onclick: () => { insertAt(payload, `\${${k}}`); },
        }, `\${${k}}`)));
      previewOut.append(h("h2", {}, "Preview: what a sample event sends"),
        res.body === null ? h("p", {}, "Nothing: the none action only records the execution.") : h("pre", { "aria-label": "Rendered payload" }, pretty(res.body)));
    } catch (e) {
      if (e instanceof ApiError) showErrors(form, summary, e);
      else summary.replaceChildren(banner("bad", e.message));
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form, summary);
    const next = build();
    try {
      const saved = existing
        ? await api("PATCH", `/v1/automations/${encodeURIComponent(existing.id)}`, diff(existing, next))
        : await api("POST", "/v1/automations", next);
      go(`/automations/${encodeURIComponent(saved.id)}`, { saved: "1" });
    } catch (e) {
      if (e instanceof ApiError) showErrors(form, summary, e);
      else summary.replaceChildren(banner("bad", e.message));
    }
  });

  form.append(
    h("div", { class: "row" }, field("Name", name, { path: "name" }), field("Description", description, { path: "description" }),
      h("div", { class: "field", "data-path": "enabled" }, h("label", {}, enabled, " Enabled"))),
    h("fieldset", {}, h("legend", {}, "Scope"),
      h("div", { class: "row" }, field("Scope type", scopeType, { path: "scope.type" }), field("Entity", scopeEntity, { path: "scope.entity" }), fProject, fRegistry, fCollection)),
    h("fieldset", {}, h("legend", {}, "Event"), field("Event type", eventType, { path: "event.type" }), metricBox, statesField, artifactFilter.el, runFilter.el),
    h("fieldset", {}, h("legend", {}, "Action"), field("Action type", actionType, { path: "action.type" }), fIntegration, fPayload, varsEl, fSlack),
    h("div", { class: "row" },
      h("button", { type: "submit", class: "primary" }, existing ? "Save changes" : "Create automation"),
      h("button", { type: "button", onclick: preview }, "Preview"),
      existing && h("button", { type: "button", onclick: async () => {
        if (!confirm(`Delete ${existing.name}?`)) return;
        try { await api("DELETE", `/v1/automations/${encodeURIComponent(existing.id)}`); go("/automations"); } catch (e) { summary.replaceChildren(banner("bad", e.message)); }
      } }, "Delete")),
    previewOut);
  const links = existing ? h("p", {},
    h("a", { href: `#/automations/${encodeURIComponent(existing.id)}/executions` }, "Executions"), " · ",
    METRIC_KINDS.includes(existing.event.type) && existing.scope.project
      ? h("a", { href: `#/runs?${new URLSearchParams({ project: existing.scope.project, metric: existing.event.metric.name, automation: existing.id })}` }, "Run chart and backtest")
      : "") : null;
  page(existing ? `Edit ${existing.name}` : "New automation", links, params.get("saved") ? banner("good", "Saved.") : null, summary, form);
  layout();
  // The variables list is the API's: a preview fills it.
  if (actionType.value === "webhook") preview();
  else varsEl.replaceChildren(h("button", { type: "button", onclick: preview }, "Show the template variables"));
}

function insertAt(textarea, s) {
  const start = textarea.selectionStart ?? textarea.value.length;
  textarea.value = textarea.value.slice(0, start) + s + textarea.value.slice(textarea.selectionEnd ?? start);
  textarea.focus();
  textarea.selectionStart = textarea.selectionEnd = start + s.length;
}

function pretty(s) {
  try { return JSON.stringify(JSON.parse(s), null, 2); } catch { return s; }
}

// ---------- executions ----------

function requestView(r) {
  if (!r) return h("span", { class: "note" }, "nothing sent (none action)");
  return h("details", {}, h("summary", {}, `${r.method} ${r.url || r.integration}`),
    h("pre", { "aria-label": "Headers" }, Object.entries(r.headers || {}).map(([k, v]) => `${k}: ${v}`).join("\n")),
    h("pre", { "aria-label": "Body" }, pretty(r.body || "")));
}

function responseView(r) {
  if (!r) return h("span", { class: "note" }, "no answer yet");
  return h("div", {}, h("span", { class: "status" }, r.status ? `HTTP ${r.status}` : "no status"),
    r.error ? h("p", { class: "error" }, r.error) : null,
    r.body ? h("details", {}, h("summary", {}, "Body"), h("pre", {}, pretty(r.body))) : null);
}

async function executions(id) {
  const a = await api("GET", `/v1/automations/${encodeURIComponent(id)}`);
  const out = h("div", { "aria-live": "polite" });
  const list = h("div");
  async function load() {
    let res;
    try {
      res = await api("GET", `/v1/automations/${encodeURIComponent(id)}/executions?limit=100`);
    } catch (e) {
      list.replaceChildren(banner("bad", e.message));
      return;
    }
    const items = res.items || [];
    list.replaceChildren(items.length ? h("table", { "aria-label": "Executions" },
      h("thead", {}, h("tr", {}, ["Fired", "What fired", "State", "Attempts", "Next attempt", "Request", "Last response"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, items.map((e) => h("tr", { "data-fire": e.fire_id },
        h("td", {}, fmtTime(e.created_at)),
        h("td", {}, whatFired(e.event, a)),
        h("td", { class: `state-${e.state}` }, e.state),
        h("td", {}, String(e.attempts)),
        h("td", {}, e.next_attempt_at ? fmtTime(e.next_attempt_at) : "—"),
        h("td", {}, requestView(e.request)),
        h("td", {}, responseView(e.last_response))))))
      : h("p", {}, "No executions yet."));
  }
  const test = h("button", { type: "button", class: "primary" }, "Test");
  test.addEventListener("click", async () => {
    test.disabled = true;
    out.replaceChildren(h("p", {}, "Sending a test delivery…"));
    try {
      const r = await api("POST", `/v1/automations/${encodeURIComponent(id)}/test`);
      out.replaceChildren(h("h2", {}, "Test delivery"),
        banner(r.delivered ? "good" : "bad", r.delivered ? "Delivered: the receiver answered 2xx." : r.message || "Not delivered."),
        h("div", { class: "row" }, h("div", {}, h("h2", {}, "Request"), requestView(r.request)), h("div", {}, h("h2", {}, "Response"), responseView(r.response))));
    } catch (e) {
      out.replaceChildren(banner("bad", e.message));
    } finally {
      test.disabled = false;
    }
  });
  page(`Executions of ${a.name}`,
    h("p", {}, h("a", { href: `#/automations/${encodeURIComponent(id)}` }, "Edit the automation")),
    h("div", { class: "row" }, test, h("button", { type: "button", onclick: load }, "Refresh")),
    out, list);
  await load();
}

function whatFired(ev, a) {
  if (!ev) return "";
  if (ev.metric_name !== undefined) {
    const link = ev.project ? h("a", { href: `#/runs?${new URLSearchParams({ project: ev.project, run: ev.run_id, metric: ev.metric_name, automation: a.id })}` }, "chart") : null;
    return h("span", {}, `${ev.metric_name} at step ${ev.step} of run ${ev.run_id} `, link);
  }
  if (ev.run_id) return `run ${ev.run_id}: ${ev.state || ev.event_type}`;
  return `${ev.event_type} ${ev.collection || ""}${ev.version !== undefined ? `:v${ev.version}` : ""}`;
}

// ---------- integrations ----------

async function integrations() {
  const res = await api("GET", "/v1/integrations?limit=200");
  const summary = h("div", { "aria-live": "polite" });
  const rows = (res.items || []).map((i) => h("tr", {},
    h("td", {}, i.name), h("td", {}, i.type),
    h("td", {}, i.url || i.channel || i.tracking_uri || i.registry || ""),
    h("td", {}, [i.has_secret && "secret", i.has_access_token && "access token", i.has_url && "URL", i.auth && i.auth !== "none" && i.auth].filter(Boolean).join(", ") || "none"),
    h("td", {}, i.disabled ? h("span", { class: "error" }, i.disabled) : "active"),
    h("td", {}, h("button", { type: "button", "aria-label": `Delete ${i.name}`, onclick: async () => {
      if (!confirm(`Delete integration ${i.name}?`)) return;
      try { await api("DELETE", `/v1/integrations/${encodeURIComponent(i.name)}`); render(); } catch (e) { summary.replaceChildren(banner("bad", e.message)); }
    } }, "Delete"))));
  const type = select(["webhook", "slack", "mlflow"], "webhook");
  const inputs = {
    name: text(""), url: text(""), channel: text(""), registry: text(""), tracking_uri: text(""),
    access_token: h("input", { type: "password", autocomplete: "new-password" }),
    secret: h("input", { type: "password", autocomplete: "new-password" }),
    token: h("input", { type: "password", autocomplete: "new-password" }),
  };
  const f = {
    name: field("Name", inputs.name, { path: "name" }),
    url: field("URL", inputs.url, { path: "url" }),
    channel: field("Channel", inputs.channel, { path: "channel" }),
    access_token: field("Access token (write-only)", inputs.access_token, { path: "access_token" }),
    secret: field("Signing secret (write-only)", inputs.secret, { path: "secret" }),
    registry: field("Registry (MLflow model registry events land here)", inputs.registry, { path: "registry" }),
    tracking_uri: field("Tracking server URI (polled)", inputs.tracking_uri, { path: "tracking_uri" }),
    token: field("Tracking token (write-only)", inputs.token, { path: "token" }),
  };
  const SHOWN = { webhook: ["name", "url", "access_token", "secret"], slack: ["name", "url", "channel"], mlflow: ["name", "secret", "registry", "tracking_uri", "token"] };
  const layout = () => { for (const [k, el] of Object.entries(f)) el.classList.toggle("hidden", !SHOWN[type.value].includes(k)); };
  type.addEventListener("change", layout);
  const form = h("form", { novalidate: true, "aria-label": "New integration" },
    field("Type", type, { path: "type" }), h("div", { class: "row" }, Object.values(f)),
    h("p", { class: "note" }, "Secrets, tokens and Slack URLs are write-only: the API never shows them again."),
    h("button", { type: "submit", class: "primary" }, "Create integration"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form, summary);
    const body = { type: type.value };
    for (const k of SHOWN[type.value]) if (inputs[k].value.trim()) body[k] = inputs[k].value.trim();
    try {
      await api("POST", "/v1/integrations", body);
      render();
    } catch (e) {
      if (e instanceof ApiError) showErrors(form, summary, e);
      else summary.replaceChildren(banner("bad", e.message));
    }
  });
  page("Integrations",
    rows.length ? h("table", { "aria-label": "Integrations" },
      h("thead", {}, h("tr", {}, ["Name", "Type", "Target", "Credentials set", "Status", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows)) : h("p", {}, "No integrations yet."),
    h("h2", {}, "New integration"), summary, form);
  layout();
}

// ---------- run chart and backtest ----------

async function runChart(params) {
  const project = params.get("project") || "";
  const runId = params.get("run") || "";
  const metric = params.get("metric") || "";
  const automationId = params.get("automation") || "";
  const projectIn = text(project);
  const pick = h("form", { class: "row", "aria-label": "Run" }, field("Project", projectIn), h("button", { type: "submit" }, "Show runs"));
  pick.addEventListener("submit", (e) => { e.preventDefault(); go("/runs", { project: projectIn.value.trim() }); });
  if (!project) return page("Run chart", h("p", {}, "Pick a project to see its runs' logged metrics."), pick);

  let runs;
  try {
    runs = await api("GET", `/v1/runs?${new URLSearchParams({ project, limit: "200" })}`);
  } catch (e) {
    // A deployment that keeps no history (AWS) says so; backtests there take the history sent.
    if (e instanceof ApiError && e.res.status === 501) return page("Run chart", pick, banner("bad", e.message));
    throw e;
  }
  const autos = await api("GET", "/v1/automations?limit=200");
  const items = runs.items || [];
  const run = items.find((r) => r.run_id === runId) || items[0];
  if (!run) return page("Run chart", pick, h("p", {}, `No stored metric history for project ${project} yet.`));
  const metricName = run.metrics.includes(metric) ? metric : run.metrics[0];
  const metricAutos = (autos.items || []).filter((a) => METRIC_KINDS.includes(a.event.type) && a.event.metric.name === metricName
    && (a.scope.type === "entity" || a.scope.project === project));
  const automation = metricAutos.find((a) => a.id === automationId) || metricAutos[0] || null;
  const state = { project, run: run.run_id, metric: metricName, automation: automation?.id || "" };
  // What is shown is in the URL (without a re-render), so the address is a link to this chart.
  const shown = `#/runs?${new URLSearchParams(Object.entries(state).filter(([, v]) => v))}`;
  if (location.hash !== shown) history.replaceState(null, "", shown);

  const runSel = select(items.map((r) => [r.run_id, r.run_name ? `${r.run_name} (${r.run_id})` : r.run_id]), run.run_id);
  const metricSel = select(run.metrics, metricName);
  const autoSel = select([["", metricAutos.length ? "none" : "no automation reads this metric"], ...metricAutos.map((a) => [a.id, `${a.name} (${a.event.type})`])], state.automation);
  const controls = h("form", { class: "row", "aria-label": "Chart" }, field("Run", runSel), field("Metric", metricSel), field("Automation", autoSel));
  controls.addEventListener("change", () => go("/runs", { project, run: runSel.value, metric: metricSel.value, automation: autoSel.value }));
  controls.addEventListener("submit", (e) => e.preventDefault());

  const enc = encodeURIComponent;
  const hist = await api("GET", `/v1/runs/${enc(run.entity)}/${enc(project)}/${enc(run.run_id)}/metrics/${enc(metricName)}`);
  const chartEl = h("div", { id: "chart", role: "img", "aria-label": `${metricName} of run ${run.run_id} by step` });
  const firesEl = h("div", { "aria-live": "polite" });
  const summary = h("div", { "aria-live": "polite" });
  const condForm = h("form", { novalidate: true, "aria-label": "Condition" });
  const create = h("a", { href: `#/automations/new?${new URLSearchParams({ project, metric: metricName })}` }, "Create an automation on this metric");

  // The engine's fires of this automation on this run and metric (its executions).
  let engineSteps = [];
  if (automation) {
    try {
      const ex = await api("GET", `/v1/automations/${encodeURIComponent(automation.id)}/executions?limit=200`);
      engineSteps = (ex.items || []).map((e) => e.event).filter((e) => e && e.run_id === run.run_id && e.metric_name === metricName && e.step !== undefined).map((e) => e.step);
    } catch { engineSteps = []; }
  }

  const steps = hist.points.map((p) => p.step);
  const values = hist.points.map((p) => p.value);
  let chart = null;
  function draw(wouldSteps, line) {
    const would = new Set(wouldSteps);
    const fired = new Set(engineSteps);
    const data = [steps, values,
      steps.map((s, i) => (would.has(s) ? values[i] : null)),
      steps.map((s, i) => (fired.has(s) ? values[i] : null)),
      steps.map(() => (line === null || line === undefined ? null : line))];
    const opts = {
      width: Math.min(1100, main().clientWidth - 20), height: 320,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: metricName }],
      series: [
        { label: "step" },
        { label: metricName, stroke: "#0b62c4", width: 1.5 },
        { label: "would fire (backtest)", stroke: "#f08c00", width: 0, paths: () => null, points: { show: true, size: 12, stroke: "#f08c00", fill: "#fff3d6", width: 2 } },
        { label: "fired (engine)", stroke: "#b3261e", width: 0, paths: () => null, points: { show: true, size: 7, fill: "#b3261e", stroke: "#b3261e" } },
        { label: "threshold", stroke: "#5b6472", width: 1, dash: [6, 4], points: { show: false } },
      ],
    };
    if (chart) chart.destroy();
    chartEl.replaceChildren();
    chart = new window.uPlot(opts, data, chartEl);
    chartEl.dataset.engineFires = [...fired].sort((a, b) => a - b).join(",");
    chartEl.dataset.backtestFires = [...would].sort((a, b) => a - b).join(",");
    firesEl.replaceChildren(h("h2", {}, "Fires on this run"),
      h("ul", { id: "fire-list" },
        h("li", { "data-kind": "engine" }, engineSteps.length ? `Fired (engine) at step ${[...fired].sort((a, b) => a - b).join(", ")}` : "The engine has not fired on this run."),
        automation ? h("li", { "data-kind": "backtest" }, wouldSteps.length ? `Would fire (backtest of the condition below) at step ${[...would].sort((a, b) => a - b).join(", ")}` : "The condition below would not fire on this history.") : null));
  }

  // The condition, editable: a backtest of the change (nothing is saved) moves the marks.
  const m = automation?.event.metric || {};
  const condInputs = {};
  const condFields = automation ? {
    RUN_METRIC_THRESHOLD: ["window", "cmp", "threshold"],
    RUN_METRIC_CHANGE: ["current_window", "prior_window", "amount"],
    RUN_METRIC_ZSCORE: ["window", "threshold"],
  }[automation.event.type] : [];
  for (const k of condFields) {
    condInputs[k] = k === "cmp" ? select(Object.keys(CMPS), m.cmp) : h("input", { type: "number", step: "any", value: m[k] ?? "" });
  }
  const cooldownBox = h("input", { type: "checkbox", checked: true });
  async function backtest() {
    clearErrors(condForm, summary);
    const metricPatch = {};
    for (const [k, el] of Object.entries(condInputs)) metricPatch[k] = k === "cmp" ? el.value : (el.value.trim() === "" ? null : Number(el.value));
    try {
      const r = await api("POST", `/v1/automations/${encodeURIComponent(automation.id)}/backtest`, {
        run: { project, run_id: run.run_id }, patch: { event: { metric: metricPatch } }, cooldown: cooldownBox.checked, max_fires: 1000,
      });
      const line = automation.event.type === "RUN_METRIC_THRESHOLD" ? metricPatch.threshold : null;
      draw(r.fires.map((f) => f.step), line);
    } catch (e) {
      if (e instanceof ApiError) showErrors(condForm, summary, e);
      else summary.replaceChildren(banner("bad", e.message));
    }
  }
  if (automation) {
    condForm.append(h("div", { class: "row" },
      Object.entries(condInputs).map(([k, el]) => field(COND_LABELS[k], el, { path: `patch.event.metric.${k}` })),
      h("div", { class: "field" }, h("label", {}, cooldownBox, " Apply the cooldown")),
      h("button", { type: "submit", class: "primary" }, "Backtest")),
      h("p", { class: "note" }, "Change the condition and backtest: the marks move; nothing is saved until you edit the automation."));
    condForm.addEventListener("submit", (e) => { e.preventDefault(); backtest(); });
  }

  page("Run chart", pick, controls,
    h("p", { class: "note" }, `${hist.points.length} stored values (at most ${hist.max_points} per run and metric; older values are thinned first).`),
    chartEl, firesEl, automation ? h("h2", {}, `Condition of ${automation.name}`) : null, summary, condForm, h("p", {}, create));
  const wait = () => new Promise((r) => (window.uPlot ? r() : window.addEventListener("load", r, { once: true })));
  await wait();
  if (automation) await backtest();
  else draw([], null);
}

// ---------- start ----------

document.getElementById("signout").addEventListener("click", () => { signOut(); location.hash = "#/automations"; });
window.addEventListener("hashchange", () => render());
render();
