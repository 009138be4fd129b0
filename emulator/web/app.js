// c4emu web console: one WebSocket to the emulator, five views.
// Messages are JSON (see emulator/README-web.md); the emulator sends binary
// frames of UTF-8 text, decoded here so that a driver's stray bytes show as
// U+FFFD rather than breaking the socket.
"use strict";

const $ = (sel, root) => (root || document).querySelector(sel);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};
const list = (x) => (Array.isArray(x) ? x : []); // cjson sends an empty array as {}

const token = new URLSearchParams(location.search).get("token");
let ws = null, nextId = 1, pending = new Map();
const decoder = new TextDecoder();

// ---- tabs ------------------------------------------------------------------
for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => showView(b.dataset.view));
}
function showView(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.view === name);
  for (const v of document.querySelectorAll(".view")) v.classList.toggle("active", v.id === "view-" + name);
  if (name === "log") scrollLog();
}

// ---- connection -------------------------------------------------------------
function connect() {
  const q = token ? "?token=" + encodeURIComponent(token) : "";
  ws = new WebSocket("ws://" + location.host + "/ws" + q, "c4emu-console");
  ws.binaryType = "arraybuffer";
  ws.onopen = () => setConn(true);
  ws.onclose = () => { setConn(false); setTimeout(connect, 1000); };
  ws.onmessage = (ev) => {
    const text = typeof ev.data === "string" ? ev.data : decoder.decode(ev.data);
    let m;
    try { m = JSON.parse(text); } catch (e) { console.error("bad message", e); return; }
    (handlers[m.t] || (() => {}))(m);
  };
}
function setConn(up) {
  const c = $("#conn");
  c.textContent = up ? "connected" : "disconnected — reconnecting";
  c.className = "conn " + (up ? "up" : "down");
}
// Sends a request; cb gets its result message.
function request(msg, cb) {
  msg.id = nextId++;
  if (cb) pending.set(msg.id, cb);
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

const handlers = {
  hello(m) {
    $("#driver-name").textContent = m.name || m.path;
    $("#driver-info").textContent = `${m.path} · OS ${m.os} · device ${m.device_id}` + (m.virtual ? " · virtual clock" : "");
    document.title = "c4emu · " + (m.name || m.path);
    pickDrivers(list(m.drivers), m.driver);
    buildFromXml(m.xml || "");
    updateProps(m.props || {}, false);
    hideProps(m.hidden || {});
    logLines.length = 0;
    addLog(list(m.log));
  },
  props(m) {
    updateProps(m.props || {}, true);
    if (m.hidden) hideProps(m.hidden);
  },
  log(m) { addLog(list(m.lines)); },
  state(m) { renderState(m); },
  result(m) {
    const cb = pending.get(m.id);
    pending.delete(m.id);
    if (cb) cb(m);
  },
};

// ---- a project's drivers ----------------------------------------------------
// A project run (c4emu run project.lua --web): every view shows the driver
// chosen here; the emulator answers with that driver's hello.
function pickDrivers(drivers, current) {
  const sel = $("#driver-pick");
  $("#driver-pick-label").hidden = drivers.length === 0;
  sel.textContent = "";
  for (const d of drivers) {
    sel.append(el("option", { value: d.name, text: `${d.name} (device ${d.device_id}${d.phase === "dead" ? ", destroyed" : ""})` }));
  }
  if (current) sel.value = current;
}
$("#driver-pick").addEventListener("change", (ev) => request({ t: "driver", name: ev.target.value }));

// ---- driver.xml -------------------------------------------------------------
const kids = (node, tag) => (node ? Array.from(node.children).filter((c) => c.tagName.toLowerCase() === tag) : []);
const kid = (node, tag) => kids(node, tag)[0];
const txt = (node, tag) => { const k = kid(node, tag); return k ? k.textContent.trim() : ""; };
const flag = (node, tag) => txt(node, tag).toLowerCase() === "true";

function buildFromXml(xmlText) {
  const doc = new DOMParser().parseFromString(xmlText, "application/xml");
  const config = kid(doc.documentElement, "config");
  buildProps(kids(kid(config, "properties"), "property"));
  buildActions(kids(kid(config, "actions"), "action"));
  buildCommands(kids(kid(config, "commands"), "command"));
}

// One input for a property or a command/action parameter, from its XML node.
function inputFor(node, onCommit) {
  const type = txt(node, "type").toUpperCase();
  const items = kids(kid(node, "items"), "item").map((i) => i.textContent.trim());
  let input, bounds = null;
  if (type === "LIST" || type === "DYNAMIC_LIST" || items.length) {
    input = el("select");
    for (const it of items) input.append(el("option", { value: it, text: it }));
    input.addEventListener("change", () => onCommit && onCommit(input.value));
  } else if (type === "RANGED_INTEGER" || type === "RANGED_FLOAT") {
    const min = txt(node, "minimum"), max = txt(node, "maximum");
    input = el("input", { type: "number" });
    if (min !== "") input.min = min;
    if (max !== "") input.max = max;
    input.step = type === "RANGED_INTEGER" ? "1" : "any";
    bounds = el("span", { class: "bounds", text: `${min || "−∞"} … ${max || "∞"}` });
    const valid = () => {
      const v = Number(input.value);
      const ok = input.value !== "" && !isNaN(v) && (min === "" || v >= Number(min)) && (max === "" || v <= Number(max)) &&
        (type !== "RANGED_INTEGER" || Number.isInteger(v));
      input.classList.toggle("invalid", !ok);
      return ok;
    };
    input.addEventListener("input", valid);
    input.addEventListener("change", () => { if (valid() && onCommit) onCommit(input.value); });
    input.validValue = valid;
  } else {
    input = el("input", { type: flag(node, "password") ? "password" : "text" });
    input.addEventListener("change", () => onCommit && onCommit(input.value));
  }
  return { input, bounds, type: type || "STRING" };
}

const propInputs = new Map(); // name -> input
function buildProps(nodes) {
  const body = $("#props tbody");
  body.textContent = "";
  propInputs.clear();
  if (!nodes.length) body.append(el("tr", {}, el("td", { colSpan: 3, class: "empty", text: "driver.xml has no properties" })));
  for (const p of nodes) {
    const name = txt(p, "name");
    if (!name) continue;
    const { input, bounds, type } = inputFor(p, (v) => setProperty(name, v));
    if (type === "LABEL") {
      body.append(el("tr", { class: "label" }, el("td", { colSpan: 3, text: txt(p, "default") || name })));
      continue;
    }
    input.setAttribute("data-prop", name);
    const cell = el("td", {}, input, bounds);
    const ro = flag(p, "readonly");
    if (ro) { input.disabled = true; cell.append(el("span", { class: "badge", text: "read-only" })); }
    if (flag(p, "password")) {
      const show = el("input", { type: "checkbox" });
      show.addEventListener("change", () => { input.type = show.checked ? "text" : "password"; });
      cell.append(el("label", { class: "bounds" }, show, " show"));
    }
    const tip = txt(p, "tooltip") || txt(p, "description");
    body.append(el("tr", { "data-prop-row": name, title: tip }, el("td", { text: name }), cell, el("td", { class: "type", text: type })));
    propInputs.set(name, input);
  }
}

function setProperty(name, value) {
  request({ t: "set_property", name, value }, (r) => {
    if (!r.ok) alert("set_property: " + r.error);
  });
}

function updateProps(props, flash) {
  for (const [name, value] of Object.entries(props)) {
    const input = propInputs.get(name);
    if (!input || document.activeElement === input) continue;
    if (input.tagName === "SELECT" && !Array.from(input.options).some((o) => o.value === value))
      input.append(el("option", { value, text: value }));
    input.value = value;
    if (input.validValue) input.validValue();
    const row = input.closest("tr");
    if (flash && row) { row.classList.remove("flash"); void row.offsetWidth; row.classList.add("flash"); }
  }
}

// C4:SetPropertyAttribs(name, 1) hides a property from Composer; 0 shows it.
// hidden is the whole set {name: true}.
function hideProps(hidden) {
  for (const row of document.querySelectorAll("#props tr[data-prop-row]"))
    row.classList.toggle("hidden", hidden[row.dataset.propRow] === true);
}

// ---- actions and commands ----------------------------------------------------
function paramForm(card, paramNodes) {
  const fields = [];
  for (const p of paramNodes) {
    const name = txt(p, "name");
    const { input, bounds } = inputFor(p, null);
    input.setAttribute("data-param", name);
    card.append(el("label", {}, el("span", { text: name }), input, bounds));
    fields.push({ name, input });
  }
  return () => {
    const params = {};
    for (const f of fields) {
      if (f.input.validValue && !f.input.validValue()) return null;
      params[f.name] = f.input.value;
    }
    return params;
  };
}

function showResult(label, r) {
  const out = $("#action-result");
  let s = `${label}: ${r.ok ? "ok" : "error"}`;
  if (r.error) s += "\n" + r.error;
  if (r.output) s += "\n" + r.output.replace(/\n$/, "");
  out.textContent = s;
}

function runCommand(command, params, label) {
  request({ t: "command", command, params }, (r) => showResult(label, r));
}

function buildActions(nodes) {
  const box = $("#actions");
  box.textContent = "";
  if (!nodes.length) box.append(el("p", { class: "empty", text: "driver.xml has no actions" }));
  for (const a of nodes) {
    const name = txt(a, "name"), command = txt(a, "command");
    const card = el("div", { class: "card" });
    const read = paramForm(card, kids(kid(a, "params"), "param"));
    const b = el("button", { class: "primary", text: name, "data-action": command });
    b.addEventListener("click", () => {
      const params = read();
      if (!params) return;
      // Composer sends an action as LUA_ACTION with ACTION = its <command>.
      runCommand("LUA_ACTION", Object.assign({ ACTION: command }, params), `Action "${name}"`);
    });
    card.prepend(b);
    box.append(card);
  }
}

function buildCommands(nodes) {
  const box = $("#commands");
  box.textContent = "";
  if (!nodes.length) box.append(el("p", { class: "empty", text: "driver.xml has no commands" }));
  for (const c of nodes) {
    const name = txt(c, "name");
    const card = el("div", { class: "card" }, el("strong", { text: name }));
    const desc = txt(c, "description");
    if (desc) card.append(el("div", { class: "desc", text: desc }));
    const read = paramForm(card, kids(kid(c, "params"), "param"));
    const b = el("button", { class: "primary", text: "Send", "data-command": name });
    b.addEventListener("click", () => {
      const params = read();
      if (params) runCommand(name, params, `Command ${name}`);
    });
    card.append(b);
    box.append(card);
  }
}

// ---- Lua ---------------------------------------------------------------------
function runLua() {
  const code = $("#lua-code").value;
  if (!code.trim()) return;
  const entry = el("div", { class: "lua-entry" }, el("div", { class: "code", text: code }));
  const pre = el("pre", { text: "…" });
  entry.append(pre);
  $("#lua-out").prepend(entry);
  request({ t: "lua", code }, (r) => {
    pre.textContent = "";
    if (r.output) pre.append(el("span", { class: "output", text: r.output }));
    if (r.ok) pre.append(el("span", { class: "values", text: r.count > 0 ? r.values : "(no values)" }));
    else pre.append(el("span", { class: "error", text: r.error }));
  });
}
$("#lua-run").addEventListener("click", runLua);
$("#lua-clear").addEventListener("click", () => { $("#lua-out").textContent = ""; });
$("#lua-code").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runLua(); }
});

// ---- log ---------------------------------------------------------------------
const LEVELS = { ERROR: 0, WARN: 1, INFO: 2, DEBUG: 3 };
const LOG_KEEP = 5000;
const logLines = []; // [level, clock_ms, text]
function fmtClock(ms) { return (ms / 1000).toFixed(3).padStart(9, " "); }
function lineShown(l) {
  const lvl = Number($("#log-level").value);
  const f = $("#log-filter").value.toLowerCase();
  return LEVELS[l[0]] <= lvl && (!f || l[2].toLowerCase().includes(f));
}
function lineEl(l) {
  return el("div", { class: "line " + l[0] }, el("span", { class: "t", text: fmtClock(l[1]) }),
    el("span", { class: "l", text: l[0] }), l[2]);
}
function addLog(lines) {
  for (const l of lines) logLines.push(l);
  if (logLines.length > LOG_KEEP) logLines.splice(0, logLines.length - LOG_KEEP);
  if ($("#log-pause").checked) { updateLogCount(); return; }
  renderLog();
}
function renderLog() {
  const box = $("#log");
  box.textContent = "";
  const frag = document.createDocumentFragment();
  for (const l of logLines) if (lineShown(l)) frag.append(lineEl(l));
  box.append(frag);
  updateLogCount();
  scrollLog();
}
function updateLogCount() {
  const shown = $("#log").children.length;
  $("#log-count").textContent = `${shown} of ${logLines.length} lines` + ($("#log-pause").checked ? " · paused" : "");
}
function scrollLog() { const b = $("#log"); b.scrollTop = b.scrollHeight; }
$("#log-level").addEventListener("change", renderLog);
$("#log-filter").addEventListener("input", renderLog);
$("#log-pause").addEventListener("change", renderLog);
$("#log-clear").addEventListener("click", () => { logLines.length = 0; renderLog(); });

// ---- state -------------------------------------------------------------------
function renderState(m) {
  const mode = m.virtual ? "virtual clock" : "real time";
  $("#clock").textContent = `clock: ${(m.now / 1000).toFixed(3)} s (${mode}) · ${new Date(m.epoch).toLocaleString()} · phase ${m.phase} · ${m.errors} driver error${m.errors === 1 ? "" : "s"}`;
  $("#advance").classList.toggle("hidden", !m.virtual);
  const box = $("#sections");
  box.textContent = "";
  updateVarChoices(list(m.sections).find((s) => s.name === "variables"));
  updateProxyChoices(list(m.sections).find((s) => s.name === "bindings"));
  for (const s of list(m.sections)) {
    const cols = list(s.columns), rows = list(s.rows);
    box.append(el("h3", { text: `${s.name} (${rows.length})` }));
    if (!rows.length) { box.append(el("p", { class: "empty", text: "none" })); continue; }
    const head = el("tr", {}, ...cols.map((c) => el("th", { text: c })));
    const body = rows.map((r) => el("tr", {}, ...cols.map((c) => el("td", { text: r[c] == null ? "" : String(r[c]) }))));
    box.append(el("table", { class: "grid", "data-section": s.name }, el("thead", {}, head), el("tbody", {}, ...body)));
  }
}
// The Variables form: set one as programming would (SetVariable, then the
// driver's OnVariableChanged); the emulator refuses a read-only one.
function updateVarChoices(section) {
  const sel = $("#var-name"), keep = sel.value;
  const rows = section ? list(section.rows) : [];
  const sig = rows.map((r) => r.name + (r.readonly ? "!" : "")).join("\n");
  if (sel.dataset.sig === sig) return;
  sel.dataset.sig = sig;
  sel.textContent = "";
  for (const r of rows) sel.append(el("option", { value: r.name, text: r.name + (r.readonly ? " (read-only)" : "") }));
  if (rows.some((r) => r.name === keep)) sel.value = keep;
  $("#var-form").classList.toggle("hidden", !rows.length);
}
$("#var-set").addEventListener("click", () => {
  const name = $("#var-name").value, value = $("#var-value").value;
  if (!name) return;
  const out = $("#var-result");
  out.textContent = "…";
  request({ t: "set_variable", name, value }, (r) => {
    let s = `${name} = "${value}": ${r.ok ? "ok" : "refused"}`;
    if (r.error) s += "\n" + r.error;
    if (r.output) s += "\n" + r.output.replace(/\n$/, "");
    out.textContent = s;
    out.classList.toggle("error", !r.ok);
  });
});

// The proxy form: ReceivedFromProxy(binding, command, {K = "v", ...}) as the
// proxy bound on that binding sends it; the bindings come from their section.
function updateProxyChoices(section) {
  const sel = $("#proxy-binding"), keep = sel.value;
  const rows = section ? list(section.rows) : [];
  const sig = rows.map((r) => `${r.id} ${r.name} ${r.class}`).join("\n");
  if (sel.dataset.sig === sig) return;
  sel.dataset.sig = sig;
  sel.textContent = "";
  for (const r of rows) sel.append(el("option", { value: String(r.id), text: r.class && r.class !== r.name ? `${r.id} ${r.name} (${r.class})` : `${r.id} ${r.name}` }));
  if (rows.some((r) => String(r.id) === keep)) sel.value = keep;
  $("#proxy-form").classList.toggle("hidden", !rows.length);
}
$("#proxy-send").addEventListener("click", () => {
  const binding = Number($("#proxy-binding").value), command = $("#proxy-command").value.trim();
  const out = $("#proxy-result");
  const params = {};
  for (const line of $("#proxy-params").value.split("\n")) {
    const s = line.trim();
    if (!s) continue;
    const eq = s.indexOf("=");
    if (eq <= 0) { out.textContent = `not KEY=value: ${s}`; out.classList.add("error"); return; }
    params[s.slice(0, eq).trim()] = s.slice(eq + 1);
  }
  if (!binding || !command) return;
  out.textContent = "…";
  request({ t: "proxy", binding, command, params }, (r) => {
    let s = `ReceivedFromProxy(${binding}, "${command}"): ${r.ok ? "ok" : "failed"}`;
    if (r.error) s += "\n" + r.error;
    if (r.output) s += "\n" + r.output.replace(/\n$/, "");
    out.textContent = s;
    out.classList.toggle("error", !r.ok);
  });
});

function advance(ms) {
  request({ t: "advance", ms: Number(ms) }, (r) => { if (!r.ok) alert(r.error); });
}
for (const b of document.querySelectorAll("#advance button[data-ms]")) b.addEventListener("click", () => advance(b.dataset.ms));
$("#advance-go").addEventListener("click", () => advance($("#advance-ms").value));

connect();
