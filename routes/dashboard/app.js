// Fila dashboard: a small single-page app over the JSON API. No build step.
// Views are hash routes (`#tasks?status=failed&page=2`, `#task/<id>`); each view polls
// while it is shown and stops when left.

const view = document.getElementById("view");
const FINAL = ["succeeded", "failed", "cancelled"];
const STATUSES = [
  "blocked",
  "scheduled",
  "queued",
  "running",
  "retrying",
  "succeeded",
  "failed",
  "cancelled",
];
// what a cancel ends at once (bulk-cancel's default): waiting, or blocked on dependencies
const CANCELLABLE = ["blocked", "scheduled", "queued", "retrying"];
const PRIORITIES = ["high", "medium", "low"];
let stopCurrent = () => {};

// --- API access (Bearer token from localStorage when the server asks for one) ---

function token() {
  return localStorage.getItem("fila.token") ?? "";
}

// One question at a time: every request that met a 401 meanwhile waits for the same answer.
let tokenAsked = null;

/** Shows the token dialog; resolves when it closes (saved, or dismissed with Escape). */
function askToken() {
  if (tokenAsked) return tokenAsked;
  const dialog = document.getElementById("token-dialog");
  document.getElementById("token-form").onsubmit = () => {
    localStorage.setItem("fila.token", document.getElementById("token-input").value.trim());
  };
  tokenAsked = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      tokenAsked = null;
      resolve();
    }, { once: true });
  });
  dialog.showModal();
  return tokenAsked;
}

/** An API answer that was not 2xx: the API's `{ error: { code, message, details } }`. */
class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `${status}`);
    this.status = status;
    this.code = body?.error?.code;
    this.details = body?.error?.details;
  }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers ?? {}) };
  if (token()) headers.authorization = `Bearer ${token()}`;
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401) {
    await askToken();
    return api(path, options);
  }
  const body = res.headers.get("content-type")?.includes("json")
    ? await res.json()
    : await res.text();
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

/** Reads a Server-Sent Events stream with fetch (EventSource cannot send the token). */
async function followEvents(path, onFrame, signal) {
  const headers = token() ? { authorization: `Bearer ${token()}` } : {};
  const res = await fetch(path, { headers, signal });
  if (res.status === 401) {
    await askToken();
    return followEvents(path, onFrame, signal);
  }
  if (!res.ok) throw new Error(`${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = frame.match(/^event: (.*)$/m)?.[1];
      const data = frame.match(/^data: (.*)$/m)?.[1];
      if (data) onFrame(event, JSON.parse(data));
    }
  }
}

// --- helpers ---

const esc = (v) =>
  String(v ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
  );
const time = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const shortTime = (iso) =>
  new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
const badge = (status) =>
  `<span class="badge ${esc(status)}" data-status="${esc(status)}">${esc(status)}</span>`;
const json = (v) => esc(JSON.stringify(v, null, 2));
const number = (n) => n.toLocaleString(undefined, { maximumFractionDigits: 4 });

/** "42 s", "3 min", "2 h", "5 d": how long ago a number of seconds is. */
function age(seconds) {
  if (seconds < 90) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 129_600) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}

/** Sets `el`'s text, turning `code` spans into <code> elements (text only: nothing is parsed as HTML). */
function setInlineCode(el, text) {
  el.replaceChildren(
    ...text.split(/`([^`]+)`/).map((part, i) =>
      i % 2 === 1
        ? Object.assign(document.createElement("code"), { textContent: part })
        : document.createTextNode(part)
    ),
  );
}

/**
 * The help line of a task type: the first sentence of its description, without the
 * clauses written for operators (how it serves the benchmarks), which mean nothing to a user.
 */
function helpLine(description) {
  const first = description.match(/^[\s\S]*?[.!?](?=\s|$)/)?.[0] ?? description;
  const end = /[.!?]$/.test(first) ? first.at(-1) : ".";
  const clauses = first.replace(/[.!?]$/, "").split(/(?<=[,;])\s+/);
  const kept = clauses.filter((clause) => !/benchmark/i.test(clause)).join(" ");
  return kept ? kept.replace(/[,;]$/, "") + end : "";
}

/** `text` as HTML with its `code` spans as <code> elements (everything else escaped). */
const inlineCodeHtml = (text) =>
  text.split(/`([^`]+)`/).map((part, i) => (i % 2 === 1 ? `<code>${esc(part)}</code>` : esc(part)))
    .join("");

/** "1 task", "3 tasks". */
const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;

// the HTML each patched element shows now
const shownHtml = new WeakMap();

/**
 * Sets `el`'s HTML only when it changed (a poll that finds nothing new leaves the page, and a
 * screen reader, alone); when rebuilt, keyboard focus returns to the control with the same
 * `data-key` (a row's button keeps focus while the list refreshes around it).
 */
function patchHtml(el, html) {
  if (shownHtml.get(el) === html) return;
  const focusedKey = el.contains(document.activeElement)
    ? document.activeElement.closest("[data-key]")?.dataset.key
    : undefined;
  el.innerHTML = html;
  shownHtml.set(el, html);
  if (focusedKey) el.querySelector(`[data-key="${CSS.escape(focusedKey)}"]`)?.focus();
}

/** Writes a result (`html`) or an error (`error`) into a status line. */
function say(el, html, error) {
  el.classList.toggle("error-box", Boolean(error));
  el.innerHTML = error ? esc(error.message ?? error) : html;
}

/**
 * Asks before doing something that cannot be undone, in the page's modal dialog. The safe
 * answer has the focus, so Enter or Escape keeps things as they are; resolves true only for
 * the `confirm` button.
 */
function confirmAction({ title, text, confirm, keep = "Keep", danger = true }) {
  const dialog = document.getElementById("confirm-dialog");
  // one question at a time: a second click while it is asked is not a yes
  if (dialog.open) return Promise.resolve(false);
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-keep").textContent = keep;
  const ok = document.getElementById("confirm-ok");
  ok.textContent = confirm;
  ok.classList.toggle("danger", danger);
  dialog.returnValue = "";
  const answer = new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
  dialog.showModal();
  return answer;
}

/**
 * The error lines of a form whose controls are `#<prefix>-<name>`, each with a line
 * `#<prefix>-<name>-error` under it, and a box `#<prefix>-errors` for the rest. `fieldOf` maps
 * the first segment of an API issue's path to the field it belongs to.
 */
function formErrors(prefix, fieldOf) {
  const names = [...new Set(Object.values(fieldOf))];
  const byId = (id) => document.getElementById(`${prefix}-${id}`);
  return {
    clear() {
      for (const name of names) {
        const el = byId(`${name}-error`);
        el.hidden = true;
        el.textContent = "";
        byId(name).removeAttribute("aria-invalid");
      }
      const summary = byId("errors");
      summary.hidden = true;
      summary.replaceChildren();
    },
    /** Shows each issue beside its field, the rest in the box; focuses the first field. */
    show(issues) {
      const unplaced = [];
      let first = null;
      for (const { path, message } of issues) {
        const [head, ...rest] = String(path ?? "").split(".");
        const name = fieldOf[head];
        if (!name) {
          unplaced.push(path ? `${path}: ${message}` : message);
          continue;
        }
        const el = byId(`${name}-error`);
        const line = document.createElement("span");
        line.textContent = rest.length ? `${rest.join(".")}: ${message}` : message;
        el.append(line);
        el.hidden = false;
        const control = byId(name);
        control.setAttribute("aria-invalid", "true");
        first ??= control;
      }
      if (unplaced.length) {
        const summary = byId("errors");
        summary.replaceChildren(
          ...unplaced.map((text) =>
            Object.assign(document.createElement("p"), { textContent: text })
          ),
        );
        summary.hidden = false;
      }
      first?.focus();
    },
    /** Shows the field-level issues of an API refusal, or its message. */
    showApiError(error) {
      const issues = error.details?.issues;
      // the API lists field-level issues as [{ path, message }]; anything else has its message
      this.show(
        Array.isArray(issues) && issues.length ? issues : [{ path: "", message: error.message }],
      );
    },
  };
}

function every(ms, fn) {
  let stopped = false;
  let timer;
  const tick = async () => {
    try {
      await fn();
    } catch (error) {
      console.warn(error.message);
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** The width a chart may take inside `el` (its content box). */
function contentWidth(el) {
  const style = getComputedStyle(el);
  return Math.floor(
    el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
  );
}

/**
 * Keeps uPlot charts as wide as their containers: the viewport, or a vertical scrollbar
 * appearing, changes the width. Resizing waits a frame so it never feeds the observer a loop.
 */
function fitCharts() {
  const charts = new Map();
  const observer = new ResizeObserver((entries) => {
    requestAnimationFrame(() => {
      for (const { target } of entries) {
        const plot = charts.get(target);
        const width = contentWidth(target);
        if (plot && width > 0 && width !== plot.width) {
          plot.setSize({ width, height: plot.height });
        }
      }
    });
  });
  return {
    track(el, plot) {
      if (!charts.has(el)) observer.observe(el);
      charts.set(el, plot);
    },
    stop() {
      observer.disconnect();
    },
  };
}

/** A y axis as wide as its longest label (BTC-BRL needs more room than USD-BRL). */
function axisSizedToValues(self, values, axisIdx, cycleNum) {
  const axis = self.axes[axisIdx];
  if (cycleNum > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce(
    (a, v) => (String(v).length > a.length ? String(v) : a),
    "",
  );
  if (longest) {
    self.ctx.font = axis.font[0];
    size += self.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size) + 4;
}

/**
 * A time axis labelled in whole minutes (or days), one line per label: uPlot's default puts the
 * date on a second line of the first label, where it runs into the next one.
 */
const TIME_AXIS = {
  space: 64,
  size: 36,
  incrs: [60, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800],
  values: (_u, ticks, _axis, _space, step) =>
    ticks.map((t) =>
      step >= 86_400
        ? new Date(t * 1000).toLocaleDateString([], { month: "short", day: "numeric" })
        : new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    ),
};

// --- routes: `#name/arg?query` ---

/** The current route: its name, its argument (a task id) and its query. */
function currentRoute() {
  const raw = location.hash.slice(1) || "overview";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const [name, arg] = path.split("/");
  return { name, arg, params: new URLSearchParams(q < 0 ? "" : raw.slice(q + 1)) };
}

// The hash the shown view was built for; a view that rewrites its own hash (list filters)
// records it here, so the router does not build the view again.
let routedHash = null;
// The list as last shown (with its filters), for the detail view's way back.
let lastListHash = "#tasks";

/**
 * Puts `hash` in the address bar without rebuilding the view: as a new history entry, or
 * (`replace`) in place of the current one.
 */
function setHash(hash, replace) {
  if (hash === location.hash) return;
  if (replace) history.replaceState(null, "", hash);
  else history.pushState(null, "", hash);
  routedHash = location.hash;
}

// --- views ---

// counts are whole numbers: axis steps 1, 2, 5, 10, 20, 50, … (no 0.5 when a minute saw one task)
const COUNT_STEPS = [1, 10, 100, 1e3, 1e4, 1e5].flatMap((m) => [m, 2 * m, 5 * m]);
const OK_COLOR = "#1e7b34";
const FAILED_COLOR = "#c5221f";

function overview() {
  view.innerHTML = `<h2>Overview</h2>
    <div class="cards" id="by-status"></div>
    <h2>Waiting or running, by priority</h2><div class="cards" id="by-priority"></div>
    <h2 id="throughput-title">Finished per minute (last 15)</h2>
    <div class="chart" id="throughput" role="img" aria-labelledby="throughput-title throughput-summary"></div>
    <p class="muted" id="throughput-summary"></p>
    <p class="muted" id="waiting"></p>
    <h2>Instances</h2>
    <div class="table-wrap"><table class="stack"><thead><tr><th>Instance</th><th>Role</th><th>Driver</th><th>In flight</th><th>Heartbeat</th></tr></thead>
    <tbody id="instances"></tbody></table></div>`;
  const chartEl = document.getElementById("throughput");
  const fit = fitCharts();
  let plot = null;
  const drawThroughput = (throughput) => {
    const data = [
      throughput.map((m) => Date.parse(m.minute) / 1000),
      throughput.map((m) => m.succeeded),
      throughput.map((m) => m.failed),
    ];
    if (plot) return plot.setData(data);
    const count = (_u, v) => (v === null ? "—" : v.toLocaleString());
    // deno-lint-ignore no-undef
    const bars = (align) => uPlot.paths.bars({ size: [0.4, 28], align });
    // deno-lint-ignore no-undef
    plot = new uPlot(
      {
        width: contentWidth(chartEl),
        height: 200,
        cursor: { points: { show: false } },
        scales: {
          // half a minute either side, so the first and last bars are not cut in two
          x: { time: true, range: (_u, min, max) => [min - 30, max + 30] },
          y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.15))] },
        },
        axes: [
          TIME_AXIS,
          {
            label: "tasks",
            size: axisSizedToValues,
            incrs: COUNT_STEPS,
            values: (_u, ticks) => ticks.map((v) => v.toLocaleString()),
          },
        ],
        series: [
          {
            label: "minute",
            value: (_u, v) =>
              v === null ? "—" : new Date(v * 1000).toLocaleTimeString([], {
                hour: "2-digit",
                minute: "2-digit",
              }),
          },
          {
            label: "succeeded",
            value: count,
            stroke: OK_COLOR,
            fill: OK_COLOR,
            width: 0,
            paths: bars(-1),
            points: { show: false },
          },
          {
            label: "failed",
            value: count,
            stroke: FAILED_COLOR,
            fill: FAILED_COLOR,
            width: 0,
            paths: bars(1),
            points: { show: false },
          },
        ],
      },
      data,
      chartEl,
    );
    fit.track(chartEl, plot);
  };
  const stop = every(2000, async () => {
    const s = await api("/queue/stats");
    const cards = (o, link) =>
      Object.entries(o).map(([k, n]) =>
        link
          ? `<a class="card" href="#tasks?status=${
            encodeURIComponent(k)
          }"><div class="n">${n}</div><div class="label">${esc(k)}</div></a>`
          : `<div class="card"><div class="n">${n}</div><div class="label">${esc(k)}</div></div>`
      ).join("");
    document.getElementById("by-status").innerHTML = cards(s.counts.by_status, true);
    document.getElementById("by-priority").innerHTML = cards(s.counts.by_priority, false);
    drawThroughput(s.throughput);
    const total = (key) => s.throughput.reduce((n, m) => n + m[key], 0);
    document.getElementById("throughput-summary").textContent = `${
      total("succeeded")
    } succeeded and ${total("failed")} failed in the last ${s.throughput.length} minutes.`;
    document.getElementById("waiting").textContent = `${s.waiting.total} waiting; oldest ${
      s.waiting.oldest_age_ms === null ? "—" : `${Math.round(s.waiting.oldest_age_ms / 1000)} s`
    }; ${s.last_minute.finished} finished in the last minute`;
    document.getElementById("instances").innerHTML = s.instances.map((i) =>
      `<tr><td data-label="Instance">${esc(i.id)}</td><td data-label="Role">${
        esc(i.role)
      }</td><td data-label="Driver">${
        esc(i.driver)
      }</td><td data-label="In flight">${i.in_flight} / ${i.concurrency}</td><td data-label="Heartbeat">${
        time(i.last_heartbeat)
      }</td></tr>`
    ).join("");
  });
  return () => {
    stop();
    fit.stop();
    plot?.destroy();
  };
}

/** The list's filters as the URL holds them (anything unknown is dropped). */
function listFilters(params, typeNames) {
  const pick = (key, allowed) => (allowed.includes(params.get(key)) ? params.get(key) : "");
  const page = Number.parseInt(params.get("page") ?? "1", 10);
  return {
    status: pick("status", STATUSES),
    type: pick("type", typeNames),
    priority: pick("priority", PRIORITIES),
    page: Number.isSafeInteger(page) && page > 1 ? page : 1,
  };
}

/** The hash of the list with these filters: `#tasks?status=failed&page=2`. */
function listHash(filters) {
  const q = new URLSearchParams();
  for (const key of ["status", "type", "priority"]) if (filters[key]) q.set(key, filters[key]);
  if (filters.page > 1) q.set("page", String(filters.page));
  return q.size ? `#tasks?${q}` : "#tasks";
}

const PAGE_SIZE = 20;

async function tasks(params) {
  const types = await api("/task-types");
  const filters = listFilters(params, types.types.map((t) => t.type));
  const options = (values, selected) =>
    `<option value="">any</option>` +
    values.map((v) => `<option ${v === selected ? "selected" : ""}>${esc(v)}</option>`).join("");
  view.innerHTML = `<h2>Tasks</h2>
    <form class="filters" id="filters">
      <div><label for="f-status">Status</label><select id="f-status" name="status">${
    options(STATUSES, filters.status)
  }</select></div>
      <div><label for="f-type">Type</label><select id="f-type" name="type">${
    options(types.types.map((t) => t.type), filters.type)
  }</select></div>
      <div><label for="f-priority">Priority</label><select id="f-priority" name="priority">${
    options(PRIORITIES, filters.priority)
  }</select></div>
    </form>
    <div class="actions" id="bulk"><button type="button" class="secondary" id="bulk-retry">Retry failed</button><button type="button" class="secondary" id="bulk-cancel">Cancel waiting</button><span id="bulk-msg" role="status"></span></div>
    <p class="muted help" id="bulk-scope"></p>
    <div class="table-wrap"><table class="stack" id="task-table"><thead><tr><th>Task</th><th>Type</th><th>Status</th><th>Priority</th><th>Progress</th><th>Created</th></tr></thead>
    <tbody id="task-rows"></tbody></table></div>
    <div class="pager"><button class="secondary" id="prev">Previous</button><span id="page" class="muted"></span><button class="secondary" id="next">Next</button></div>`;
  // filters and page live in the URL: a reload, a shared link or Back shows the same list.
  // A filter change replaces the entry (stepping through a select with the arrow keys would
  // fill the history otherwise); a page turn adds one, so Back returns to the page before.
  lastListHash = listHash(filters);
  const show = (replace) => {
    setHash(lastListHash = listHash(filters), replace);
    refresh();
  };
  const bulkMsg = document.getElementById("bulk-msg");
  const showScope = () => {
    document.getElementById("bulk-scope").textContent =
      `Retry failed and Cancel waiting act on all tasks ${bulkScope(filters)}, not just this page.`;
  };
  showScope();
  document.getElementById("filters").onchange = (e) => {
    filters[e.target.name] = e.target.value;
    filters.page = 1;
    say(bulkMsg, "");
    showScope();
    show(true);
  };
  document.getElementById("bulk-retry").onclick = () =>
    bulkChange("retry", filters, bulkMsg).then(refresh);
  document.getElementById("bulk-cancel").onclick = () =>
    bulkChange("cancel", filters, bulkMsg).then(refresh);
  document.getElementById("prev").onclick = () => {
    filters.page = Math.max(1, filters.page - 1);
    show(false);
  };
  document.getElementById("next").onclick = () => {
    filters.page += 1;
    show(false);
  };
  const rows = document.getElementById("task-rows");
  rows.onclick = (e) => {
    const row = e.target.closest("tr[data-id]");
    if (row && !e.target.closest("a")) location.hash = `#task/${row.dataset.id}`;
  };
  rows.onkeydown = (e) => {
    const row = e.target.closest("tr[data-id]");
    if (row && e.key === "Enter" && e.target === row) location.hash = `#task/${row.dataset.id}`;
  };
  // a filter change and the poll may both be asking: only the newest question's answer shows
  let asked = 0;
  async function refresh() {
    const offset = (filters.page - 1) * PAGE_SIZE;
    const q = new URLSearchParams({ limit: PAGE_SIZE, offset });
    for (const k of ["status", "type", "priority"]) if (filters[k]) q.set(k, filters[k]);
    const question = ++asked;
    const page = await api(`/tasks?${q}`);
    if (question !== asked) return;
    // the rows are rebuilt on every poll: put keyboard focus back on the row that had it
    const focused = document.activeElement?.closest?.("tr[data-id]")?.dataset.id;
    rows.innerHTML =
      page.tasks.map((t) =>
        `<tr data-id="${esc(t.id)}" tabindex="0"><td data-label="Task"><a href="#task/${
          esc(t.id)
        }">${esc(t.title ?? t.id.slice(-8))}</a></td><td data-label="Type">${
          esc(t.type)
        }</td><td data-label="Status">${badge(t.status)}</td><td data-label="Priority">${
          esc(t.priority)
        }</td><td data-label="Progress"><progress max="100" value="${t.progress}" aria-label="progress">${t.progress}%</progress></td><td data-label="Created">${
          time(t.created_at)
        }</td></tr>`
      ).join("") || `<tr><td colspan="6" class="muted">No tasks.</td></tr>`;
    if (focused) rows.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
    document.getElementById("page").textContent = `${page.total === 0 ? 0 : offset + 1}–${
      offset + page.count
    } of ${page.total}`;
    document.getElementById("prev").disabled = filters.page === 1;
    document.getElementById("next").disabled = offset + page.count >= page.total;
  }
  return every(1500, refresh);
}

/** Which tasks a bulk change touches, in words: "of type noop with low priority". */
function bulkScope(filters) {
  return [
    filters.type ? `of type ${filters.type}` : "of every type",
    filters.priority ? `with ${filters.priority} priority` : "",
  ].filter(Boolean).join(" ");
}

/** How many tasks in any of `statuses` match the list's type and priority filter. */
async function countTasks(statuses, filters) {
  const totals = await Promise.all(statuses.map((status) => {
    const q = new URLSearchParams({ status, limit: 1 });
    for (const k of ["type", "priority"]) if (filters[k]) q.set(k, filters[k]);
    return api(`/tasks?${q}`).then((page) => page.total);
  }));
  return totals.reduce((a, b) => a + b, 0);
}

/**
 * Retries every failed task, or cancels every waiting one, of the list's type and priority,
 * once the user has confirmed it knowing how many match; the list's status narrows a cancel
 * when it names a waiting status. Says how many changed in `msg`.
 */
async function bulkChange(kind, filters, msg) {
  const body = {};
  for (const k of ["type", "priority"]) if (filters[k]) body[k] = filters[k];
  const narrowed = kind === "cancel" && CANCELLABLE.includes(filters.status);
  if (narrowed) body.status = filters.status;
  const statuses = kind === "retry" ? ["failed"] : narrowed ? [filters.status] : CANCELLABLE;
  const which = kind === "retry" ? "failed" : narrowed ? filters.status : "waiting";
  const scope = bulkScope(filters);
  try {
    say(msg, "Counting…");
    const n = await countTasks(statuses, filters);
    if (n === 0) return say(msg, esc(`No ${which} tasks ${scope}.`));
    say(msg, "");
    const tasks = plural(n, "task");
    const yes = kind === "retry"
      ? await confirmAction({
        title: "Retry failed tasks",
        text: `Retry ${tasks} ${scope} that failed? Each is queued to run again.`,
        confirm: `Retry ${tasks}`,
        keep: "Not now",
        danger: false,
      })
      : await confirmAction({
        title: "Cancel waiting tasks",
        text: `Cancel the ${n.toLocaleString()} ${which} ${n === 1 ? "task" : "tasks"} ${scope}?` +
          (narrowed
            ? ""
            : ` Waiting means ${CANCELLABLE.slice(0, -1).join(", ")} or ${CANCELLABLE.at(-1)}.`) +
          " Running tasks go on; tasks that depend on a cancelled one are cancelled too." +
          " This cannot be undone.",
        confirm: `Cancel ${tasks}`,
        keep: "Keep them",
      });
    if (!yes) return say(msg, "Nothing changed.");
    say(msg, kind === "retry" ? "Retrying…" : "Cancelling…");
    const { changed } = await api(`/tasks/bulk-${kind}`, { method: "POST", json: body });
    say(msg, esc(`${kind === "retry" ? "Retried" : "Cancelled"} ${plural(changed, "task")}.`));
  } catch (error) {
    say(msg, "", error);
  }
}

/** A task's dependencies and dependents as links with their statuses (nothing when it has none). */
function dependenciesHtml(t) {
  // the stream's end frame is a plain task: keep what the last poll showed
  if (!t.depends_on || !t.dependents) return shownHtml.get(document.getElementById("d-deps")) ?? "";
  if (t.depends_on.length === 0 && t.dependents.length === 0) return "";
  const list = (links, id, none) =>
    links.length
      ? `<ul class="links" id="${id}">${
        links.map((l) =>
          `<li><a href="#task/${esc(l.id)}" data-key="${esc(id)}:${esc(l.id)}" title="${
            esc(l.id)
          }">task <code>${esc(l.id.slice(-8))}</code></a> ${badge(l.status)}</li>`
        ).join("")
      }</ul>`
      : `<p class="muted" id="${id}">${none}</p>`;
  const open = t.depends_on.filter((l) => l.status !== "succeeded").length;
  return `<h2>Depends on</h2>${
    t.status === "blocked" && open
      ? `<p class="muted">Waits for ${plural(open, "task")} to succeed.</p>`
      : ""
  }${list(t.depends_on, "d-depends-on", "Nothing: it runs on its own.")}
    <h2>Dependents</h2>${list(t.dependents, "d-dependents", "No task waits for this one.")}`;
}

function taskDetail(id) {
  const controller = new AbortController();
  view.innerHTML = `<h2>Task <span id="d-title"></span></h2>
    <p><a href="${esc(lastListHash)}">← task list</a></p>
    <div class="actions"><button class="danger" id="cancel">Cancel</button><button class="secondary" id="retry">Retry</button><span id="d-msg" role="status"></span></div>
    <div class="grid2">
      <div>
        <p>Status: <span id="d-status"></span> · attempts <span id="d-attempts"></span></p>
        <progress id="d-progress" max="100" value="0" aria-label="progress"></progress> <span id="d-pmsg" class="muted"></span>
        <div id="d-deps"></div>
        <h2>Payload</h2><pre id="d-payload"></pre>
        <h2>Result</h2><pre id="d-result"></pre>
        <div id="d-error"></div>
      </div>
      <div><h2>Timeline</h2><ol class="timeline" id="d-events"></ol></div>
    </div>`;
  const show = (t) => {
    document.getElementById("d-title").textContent = `${t.type} · ${t.id}`;
    document.getElementById("d-status").innerHTML = badge(t.status);
    document.getElementById("d-attempts").textContent = `${t.attempts} / ${t.max_attempts}`;
    document.getElementById("d-progress").value = t.progress;
    document.getElementById("d-pmsg").textContent = t.progress_message ?? "";
    document.getElementById("d-payload").innerHTML = json(t.payload);
    document.getElementById("d-result").innerHTML = json(t.result);
    document.getElementById("d-error").innerHTML = t.error
      ? `<h2>Error</h2><div class="error-box">${esc(t.error)}</div>`
      : "";
    patchHtml(document.getElementById("d-deps"), dependenciesHtml(t));
    document.getElementById("cancel").disabled = FINAL.includes(t.status);
    document.getElementById("retry").disabled = !["failed", "cancelled"].includes(t.status);
  };
  const events = document.getElementById("d-events");
  const follow = () => {
    events.innerHTML = "";
    followEvents(`/tasks/${id}/events`, (kind, e) => {
      if (kind === "task") {
        events.insertAdjacentHTML(
          "beforeend",
          `<li>${time(e.at)} ${badge(e.status)} ${e.progress ?? ""}${
            e.progress !== null ? "%" : ""
          } <span class="muted">${esc(e.message)}</span></li>`,
        );
      } else if (kind === "end") show(e);
    }, controller.signal).catch(() => {});
  };
  follow();
  const act = async (method, path, message) => {
    try {
      const t = await api(path, { method });
      show(t);
      document.getElementById("d-msg").textContent = message;
      if (method === "POST") follow();
    } catch (error) {
      document.getElementById("d-msg").textContent = error.message;
    }
  };
  document.getElementById("cancel").onclick = () =>
    act("DELETE", `/tasks/${id}`, "cancel requested");
  document.getElementById("retry").onclick = () =>
    act("POST", `/tasks/${id}/retry`, "queued again");
  const stop = every(1000, async () => show(await api(`/tasks/${id}`)));
  return () => {
    stop();
    controller.abort();
  };
}

// Which form field an API issue belongs to, by the first segment of its path.
const FIELD_OF = {
  type: "type",
  action: "type",
  priority: "priority",
  delay_ms: "delay",
  run_at: "delay",
  payload: "payload",
  data: "payload",
};

async function submit() {
  const { types } = await api("/task-types");
  const field = (id, label, control) =>
    `<div class="field"><label for="s-${id}">${label}</label>${control}<p class="field-error" id="s-${id}-error" hidden></p></div>`;
  view.innerHTML = `<h2>Submit a task</h2>
    <form id="submit-form" novalidate>
      <div class="filters fields">
        ${
    field(
      "type",
      "Type",
      `<select id="s-type" name="type" aria-describedby="s-description s-type-error">${
        types.map((t) => `<option value="${esc(t.type)}">${esc(t.type)}</option>`).join("")
      }</select>`,
    )
  }
        ${
    field(
      "priority",
      "Priority",
      `<select id="s-priority" name="priority" aria-describedby="s-priority-error"><option>high</option><option selected>medium</option><option>low</option></select>`,
    )
  }
        ${
    field(
      "delay",
      "Delay (ms)",
      `<input id="s-delay" name="delay_ms" type="number" min="0" step="1" value="0" inputmode="numeric" aria-describedby="s-delay-error">`,
    )
  }
      </div>
      <p class="help" id="s-description"></p>
      ${
    field(
      "payload",
      "Payload (JSON)",
      `<textarea id="s-payload" name="payload" spellcheck="false" aria-describedby="s-payload-error"></textarea>`,
    )
  }
      <div class="error-box" id="s-errors" role="alert" hidden></div>
      <div class="actions"><button type="submit">Submit</button><span id="s-msg" role="status"></span></div>
    </form>`;
  const select = document.getElementById("s-type");
  const fill = () => {
    const t = types.find((x) => x.type === select.value);
    document.getElementById("s-payload").value = JSON.stringify(t.example, null, 2);
    setInlineCode(document.getElementById("s-description"), helpLine(t.description));
  };
  select.onchange = fill;
  fill();

  const errors = formErrors("s", FIELD_OF);

  document.getElementById("submit-form").onsubmit = async (e) => {
    e.preventDefault();
    const msg = document.getElementById("s-msg");
    msg.textContent = "";
    errors.clear();
    let payload;
    try {
      payload = JSON.parse(document.getElementById("s-payload").value || "{}");
    } catch (error) {
      errors.show([{ path: "payload", message: `not valid JSON (${error.message})` }]);
      return;
    }
    const delayText = document.getElementById("s-delay").value.trim();
    const delay = delayText === "" ? 0 : Number(delayText);
    if (!Number.isFinite(delay)) {
      errors.show([{ path: "delay_ms", message: "a number of milliseconds" }]);
      return;
    }
    try {
      msg.textContent = "Submitting…";
      const task = await api("/tasks", {
        method: "POST",
        json: {
          type: select.value,
          payload,
          priority: document.getElementById("s-priority").value,
          ...(delay !== 0 ? { delay_ms: delay } : {}),
        },
      });
      location.hash = `#task/${task.id}`;
    } catch (error) {
      msg.textContent = "";
      errors.showApiError(error);
    }
  };
  return () => {};
}

/** What /health knows of the quote refreshes: the last error and the newest reading's age. */
function quoteStatusHtml(check) {
  if (!check) return "";
  const stored = check.newest_age_s === null || check.newest_age_s === undefined
    ? "No quote is stored yet."
    : `The newest stored reading is ${age(check.newest_age_s)} old.`;
  if (check.last_refresh_error) {
    return `<div class="error-box"><strong>The last refresh failed:</strong> ${
      esc(check.last_refresh_error)
    }</div><p class="muted">${stored}</p>`;
  }
  if (check.newest_age_s === null || check.newest_age_s === undefined) {
    return `<p class="muted">No quote is stored yet: the first refresh has not finished.</p>`;
  }
  return `<p class="muted">Refreshed ${age(check.newest_age_s)} ago.</p>`;
}

async function quotes() {
  const { pairs } = await api("/currency/pairs");
  view.innerHTML = `<h2>Quotes</h2>
    <div id="q-status" role="status"></div>
    <div class="cards quotes" id="q-cards"></div>
    <h2>History</h2>
    <div class="filters"><div><label for="q-pair">Pair</label><select id="q-pair">${
    pairs.map((p) => `<option>${esc(p)}</option>`).join("")
  }</select></div></div>
    <div class="chart" id="q-chart"></div>`;
  let plot = null;
  let drawn = "";
  let statusHtml = null;
  const chartEl = document.getElementById("q-chart");
  const fit = fitCharts();
  const draw = async () => {
    const pair = document.getElementById("q-pair").value;
    const { quotes } = await api(`/currency/history?pair=${encodeURIComponent(pair)}&limit=500`);
    const points = quotes.slice().reverse();
    const data = [points.map((q) => Date.parse(q.timestamp) / 1000), points.map((q) => q.bid)];
    // polled every few seconds: rebuild the chart only when its data changed
    const key = `${pair} ${points.length} ${points.at(-1)?.timestamp}`;
    if (key === drawn) return;
    drawn = key;
    plot?.destroy();
    plot = null;
    if (points.length === 0) {
      chartEl.innerHTML = `<p class="muted">No readings of ${esc(pair)} yet.</p>`;
      return;
    }
    chartEl.replaceChildren();
    // deno-lint-ignore no-undef
    plot = new uPlot(
      {
        width: contentWidth(chartEl),
        height: 260,
        axes: [TIME_AXIS, { size: axisSizedToValues, values: (_u, ticks) => ticks.map(number) }],
        series: [
          { value: (_u, v) => (v === null ? "—" : new Date(v * 1000).toLocaleString()) },
          {
            label: `${pair} bid`,
            stroke: "#0b57d0",
            width: 2,
            value: (_u, v) => (v === null ? "—" : number(v)),
          },
        ],
      },
      data,
      chartEl,
    );
    fit.track(chartEl, plot);
  };
  document.getElementById("q-pair").onchange = draw;
  const stop = every(5000, async () => {
    // the newest reading of each pair; history answers 200 with none yet, where /currency
    // answers 404 (which the browser would log as a console error on a fresh install).
    // Why there is none, or why it is old, comes from /health's quotes check.
    const [latest, health] = await Promise.all([
      Promise.all(
        pairs.map((p) =>
          api(`/currency/history?pair=${encodeURIComponent(p)}&limit=1`)
            .then((h) => h.quotes[0] ?? null)
            .catch(() => null)
        ),
      ),
      api("/health").catch(() => null),
    ]);
    const check = health?.checks?.quotes;
    const html = quoteStatusHtml(check);
    // rewritten only when it changes, so a screen reader hears it once
    if (html !== statusHtml) document.getElementById("q-status").innerHTML = statusHtml = html;
    document.getElementById("q-cards").innerHTML = latest.map((q, i) =>
      q
        ? `<div class="card quote" data-pair="${esc(pairs[i])}"><div class="label" title="${
          esc(q.name)
        }">${esc(pairs[i])}</div><div class="n">${number(q.bid)}</div><div class="label">${
          q.pct_change === null
            ? ""
            : `${q.pct_change > 0 ? "▲" : q.pct_change < 0 ? "▼" : ""} ${q.pct_change}% · `
        }${shortTime(q.timestamp)}</div></div>`
        : `<div class="card quote" data-pair="${esc(pairs[i])}"><div class="label">${
          esc(pairs[i])
        }</div><div class="empty muted">No quote yet</div></div>`
    ).join("");
    await draw();
  });
  return () => {
    stop();
    fit.stop();
    plot?.destroy();
  };
}

function outbox() {
  view.innerHTML =
    `<h2>Outbox</h2><p class="muted">Mail kept here because no SMTP_URL is set.</p><div id="mails"></div>`;
  return every(3000, async () => {
    const { messages } = await api("/outbox?limit=50");
    document.getElementById("mails").innerHTML = messages.map((m) =>
      `<article class="card"><strong>${esc(m.subject)}</strong><div class="muted">to ${
        esc(m.to)
      } · ${time(m.created_at)}${
        m.attachments.length
          ? ` · ${m.attachments.map((a) => esc(a.filename)).join(", ")}`
          : ""
      }</div><pre>${esc(m.text)}</pre></article>`
    ).join("") || `<p class="muted">No mail yet.</p>`;
  });
}

// Which schedule form field an API issue belongs to, by the first segment of its path.
const SCHEDULE_FIELD_OF = {
  name: "name",
  cron: "cron",
  timezone: "timezone",
  type: "type",
  payload: "payload",
  priority: "priority",
  max_attempts: "attempts",
  paused: "paused",
};

/** A time as a <time> element (its exact value in `datetime`), or "—". */
const timeHtml = (iso, text = shortTime) =>
  iso ? `<time datetime="${esc(iso)}" title="${esc(time(iso))}">${esc(text(iso))}</time>` : "—";

/** "in 3 min", "in 2 h": how far ahead a time is, in whole minutes (so it changes once a minute). */
function until(iso) {
  if (!iso) return "";
  const minutes = Math.max(1, Math.ceil((Date.parse(iso) - Date.now()) / 60_000));
  if (minutes < 90) return `in ${minutes} min`;
  if (minutes < 2160) return `in ${Math.round(minutes / 60)} h`;
  return `in ${Math.round(minutes / 1440)} d`;
}

/** One schedule as a table row, with its actions (built-ins cannot be edited or deleted). */
function scheduleRowHtml(s) {
  const name = esc(s.name);
  const button = (act, label, cls = "secondary") =>
    `<button type="button" class="${cls}" data-act="${act}" data-name="${name}" data-key="${act}:${name}" aria-label="${
      esc(label)
    } ${name}">${esc(label)}</button>`;
  return `<tr data-name="${name}"><td data-label="Schedule"><strong>${name}</strong>${
    s.builtin ? ` <span class="badge builtin">built-in</span>` : ""
  }</td><td data-label="When"><span><code>${esc(s.cron)}</code> <span class="muted">${
    esc(s.timezone)
  }</span></span></td><td data-label="Task"><span>${esc(s.type)}${
    s.priority ? ` <span class="muted">· ${esc(s.priority)}</span>` : ""
  }</span></td><td data-label="State" class="state">${
    badge(s.paused ? "paused" : "active")
  }</td><td data-label="Next run" class="next-run">${
    s.paused
      ? `<span class="muted">paused</span>`
      : `<span>${timeHtml(s.next_run_at)} <span class="muted">${until(s.next_run_at)}</span></span>`
  }</td><td data-label="Last run" class="last-run">${
    s.last_run_at
      ? `<span>${timeHtml(s.last_run_at)}${
        s.last_task_id
          ? ` · <a href="#task/${esc(s.last_task_id)}">task <code>${
            esc(s.last_task_id.slice(-8))
          }</code></a>`
          : ""
      }</span>`
      : `<span class="muted">never</span>`
  }</td><td data-label="Actions"><div class="row-actions">${
    button("toggle", s.paused ? "Resume" : "Pause")
  }${button("trigger", "Run now")}${
    s.builtin ? "" : button("edit", "Edit") + button("delete", "Delete", "danger")
  }</div></td></tr>`;
}

async function schedules() {
  const { types } = await api("/task-types");
  const field = (id, label, control, extra = "") =>
    `<div class="field ${extra}"><label for="sc-${id}">${label}</label>${control}<p class="field-error" id="sc-${id}-error" hidden></p></div>`;
  const zones = typeof Intl.supportedValuesOf === "function"
    ? ["UTC", ...Intl.supportedValuesOf("timeZone")]
    : ["UTC"];
  view.innerHTML = `<h2>Schedules</h2>
    <p class="muted">Tasks submitted by cron, once a minute across all instances. Times show in this browser's time zone.</p>
    <p id="sc-msg" role="status"></p>
    <div class="table-wrap"><table class="stack wide-labels" id="schedule-table"><thead><tr><th>Schedule</th><th>When</th><th>Task</th><th>State</th><th>Next run</th><th>Last run</th><th>Actions</th></tr></thead>
    <tbody id="schedule-rows"></tbody></table></div>
    <h2 id="sc-form-title">New schedule</h2>
    <form id="schedule-form" novalidate>
      <div class="filters fields">
        ${
    field(
      "name",
      "Name",
      `<input id="sc-name" name="name" autocomplete="off" spellcheck="false" placeholder="nightly-report" aria-describedby="sc-name-help sc-name-error">`,
    )
  }
        ${
    field(
      "cron",
      "Cron",
      `<input id="sc-cron" name="cron" autocomplete="off" spellcheck="false" placeholder="0 3 * * *" aria-describedby="sc-cron-help sc-cron-error">`,
    )
  }
        ${
    field(
      "timezone",
      "Time zone",
      `<input id="sc-timezone" name="timezone" list="sc-zones" value="UTC" autocomplete="off" spellcheck="false" aria-describedby="sc-timezone-error"><datalist id="sc-zones">${
        zones.map((z) => `<option value="${esc(z)}"></option>`).join("")
      }</datalist>`,
    )
  }
      </div>
      <p class="help"><span id="sc-name-help">Names are lower-case letters, digits, <code>_</code>, <code>.</code> or <code>-</code>; saving an existing name replaces it.</span>
        <span id="sc-cron-help">Cron has five fields: minute hour day-of-month month day-of-week, e.g. <code>*/5 * * * *</code> or <code>0 3 * * 1-5</code>.</span></p>
      <div class="filters fields">
        ${
    field(
      "type",
      "Task type",
      `<select id="sc-type" name="type" aria-describedby="sc-type-error">${
        types.map((t) => `<option value="${esc(t.type)}">${esc(t.type)}</option>`).join("")
      }</select>`,
    )
  }
        ${
    field(
      "priority",
      "Priority",
      `<select id="sc-priority" name="priority" aria-describedby="sc-priority-error"><option value="">default</option>${
        PRIORITIES.map((p) => `<option>${p}</option>`).join("")
      }</select>`,
    )
  }
        ${
    field(
      "attempts",
      "Max attempts",
      `<input id="sc-attempts" name="max_attempts" type="number" min="1" max="100" step="1" inputmode="numeric" placeholder="default" aria-describedby="sc-attempts-error">`,
    )
  }
        ${
    field(
      "paused",
      "Paused",
      `<input id="sc-paused" name="paused" type="checkbox" aria-describedby="sc-paused-error">`,
      "check",
    )
  }
      </div>
      ${
    field(
      "payload",
      "Payload (JSON)",
      `<textarea id="sc-payload" name="payload" spellcheck="false" aria-describedby="sc-payload-error"></textarea>`,
    )
  }
      <div class="error-box" id="sc-errors" role="alert" hidden></div>
      <div class="actions"><button type="submit">Save schedule</button><button type="reset" class="secondary">Clear</button><span id="sc-form-msg" role="status"></span></div>
    </form>`;
  const msg = document.getElementById("sc-msg");
  const form = document.getElementById("schedule-form");
  const errors = formErrors("sc", SCHEDULE_FIELD_OF);
  const typeSelect = document.getElementById("sc-type");
  const fillExample = () => {
    const t = types.find((x) => x.type === typeSelect.value);
    document.getElementById("sc-payload").value = JSON.stringify(t?.example ?? {}, null, 2);
  };
  typeSelect.onchange = fillExample;
  fillExample();
  // after the browser's own reset of the fields
  form.onreset = () =>
    setTimeout(() => {
      errors.clear();
      document.getElementById("sc-form-title").textContent = "New schedule";
      document.getElementById("sc-form-msg").textContent = "";
      fillExample();
    });

  let known = [];
  const rows = document.getElementById("schedule-rows");
  const refresh = async () => {
    ({ schedules: known } = await api("/schedules"));
    patchHtml(
      rows,
      known.map(scheduleRowHtml).join("") ||
        `<tr><td colspan="7" class="muted">No schedules.</td></tr>`,
    );
  };

  const edit = (s) => {
    errors.clear();
    document.getElementById("sc-form-title").textContent = `Edit ${s.name}`;
    document.getElementById("sc-name").value = s.name;
    document.getElementById("sc-cron").value = s.cron;
    document.getElementById("sc-timezone").value = s.timezone;
    typeSelect.value = s.type;
    document.getElementById("sc-priority").value = s.priority ?? "";
    document.getElementById("sc-attempts").value = s.max_attempts ?? "";
    document.getElementById("sc-paused").checked = s.paused;
    document.getElementById("sc-payload").value = JSON.stringify(s.payload, null, 2);
    form.scrollIntoView({ block: "start" });
    document.getElementById("sc-cron").focus();
  };

  rows.onclick = async (e) => {
    const button = e.target.closest("button[data-act]");
    if (!button) return;
    const name = button.dataset.name;
    const path = `/schedules/${encodeURIComponent(name)}`;
    const s = known.find((x) => x.name === name);
    try {
      if (button.dataset.act === "toggle") {
        const changed = await api(`${path}/${s?.paused ? "resume" : "pause"}`, { method: "POST" });
        say(msg, esc(`${changed.paused ? "Paused" : "Resumed"} ${name}.`));
      } else if (button.dataset.act === "trigger") {
        const task = await api(`${path}/trigger`, { method: "POST" });
        say(
          msg,
          `Started ${esc(task.type)} task <a href="#task/${esc(task.id)}" id="sc-started">${
            esc(task.id.slice(-8))
          }</a> from ${esc(name)}.`,
        );
      } else if (button.dataset.act === "edit") {
        if (s) edit(s);
        return;
      } else if (button.dataset.act === "delete") {
        const yes = await confirmAction({
          title: "Delete schedule",
          text: `Delete the schedule ${name}? It submits no more ${
            s?.type ?? ""
          } tasks; tasks it already submitted stay.`,
          confirm: "Delete",
          keep: "Keep it",
        });
        if (!yes) return;
        await api(path, { method: "DELETE" });
        say(msg, esc(`Deleted ${name}.`));
      }
    } catch (error) {
      say(msg, "", error);
    }
    await refresh();
  };

  form.onsubmit = async (e) => {
    e.preventDefault();
    const formMsg = document.getElementById("sc-form-msg");
    formMsg.textContent = "";
    errors.clear();
    const name = document.getElementById("sc-name").value.trim();
    if (!name) return errors.show([{ path: "name", message: "a schedule needs a name" }]);
    let payload;
    try {
      payload = JSON.parse(document.getElementById("sc-payload").value || "{}");
    } catch (error) {
      return errors.show([{ path: "payload", message: `not valid JSON (${error.message})` }]);
    }
    const attempts = document.getElementById("sc-attempts");
    if (attempts.validity.badInput) {
      return errors.show([{ path: "max_attempts", message: "a whole number from 1 to 100" }]);
    }
    const body = {
      cron: document.getElementById("sc-cron").value.trim(),
      type: typeSelect.value,
      payload,
      timezone: document.getElementById("sc-timezone").value.trim() || "UTC",
      paused: document.getElementById("sc-paused").checked,
    };
    const priority = document.getElementById("sc-priority").value;
    if (priority) body.priority = priority;
    if (attempts.value !== "") body.max_attempts = Number(attempts.value);
    const existed = known.some((s) => s.name === name);
    try {
      formMsg.textContent = "Saving…";
      const saved = await api(`/schedules/${encodeURIComponent(name)}`, {
        method: "PUT",
        json: body,
      });
      formMsg.textContent = "";
      say(
        msg,
        `${existed ? "Replaced" : "Created"} ${esc(saved.name)}${
          saved.next_run_at ? `; next run ${timeHtml(saved.next_run_at, time)}` : " (paused)"
        }.`,
      );
      form.reset();
      await refresh();
      msg.scrollIntoView({ block: "nearest" });
    } catch (error) {
      formMsg.textContent = "";
      errors.showApiError(error);
    }
  };
  return every(3000, refresh);
}

/** A number input's limit: null when empty (no limit), a number, or undefined when not a number. */
function limitValue(input) {
  if (input.validity.badInput) return undefined;
  const text = input.value.trim();
  return text === "" ? null : Number(text);
}

/** One task type as a table row: its state, use and limits, with its actions. */
function typeRowHtml(t) {
  const type = esc(t.type);
  const { concurrency, rate_per_minute: rate, paused } = t.limits;
  return `<tr data-type="${type}"><td data-label="Type"><div><strong>${type}</strong><div class="help-line">${
    inlineCodeHtml(helpLine(t.description))
  }</div></div></td><td data-label="State" class="state">${
    badge(paused ? "paused" : "active")
  }</td><td data-label="Concurrency" class="concurrency"><span>${t.usage.running} running · ${
    concurrency === null ? `<span class="muted">no limit</span>` : `limit ${concurrency}`
  }</span></td><td data-label="Rate" class="rate">${
    rate === null
      ? `<span class="muted">no limit</span>`
      : `<span>${
        t.usage.started_last_minute ?? 0
      } started in the last minute · limit ${rate} a minute</span>`
  }</td><td data-label="Actions"><div class="row-actions"><button type="button" class="secondary" data-act="toggle" data-type="${type}" data-key="toggle:${type}" aria-label="${
    paused ? "Resume" : "Pause"
  } ${type}">${
    paused ? "Resume" : "Pause"
  }</button><button type="button" class="secondary" data-act="limits" data-type="${type}" data-key="limits:${type}" aria-label="Edit limits of ${type}">Edit limits</button></div></td></tr>`;
}

function typesView() {
  view.innerHTML = `<h2>Task types</h2>
    <p class="muted">Limits hold across all instances. A paused type starts nothing new; its running tasks finish.</p>
    <p id="ty-msg" role="status"></p>
    <div class="table-wrap"><table class="stack wide-labels" id="type-table"><thead><tr><th>Type</th><th>State</th><th>Concurrency</th><th>Rate</th><th>Actions</th></tr></thead>
    <tbody id="type-rows"></tbody></table></div>
    <dialog id="limits-dialog" aria-labelledby="lim-title">
      <form id="limits-form" novalidate>
        <h2 id="lim-title">Limits of <span id="lim-type"></span></h2>
        <p class="help">Leave a field empty for no limit.</p>
        <div class="field"><label for="lim-concurrency">Most running at once</label><input id="lim-concurrency" type="number" min="1" step="1" inputmode="numeric" placeholder="no limit" aria-describedby="lim-concurrency-error"><p class="field-error" id="lim-concurrency-error" hidden></p></div>
        <div class="field"><label for="lim-rate">Most starts per minute</label><input id="lim-rate" type="number" min="1" step="1" inputmode="numeric" placeholder="no limit" aria-describedby="lim-rate-error"><p class="field-error" id="lim-rate-error" hidden></p></div>
        <div class="error-box" id="lim-errors" role="alert" hidden></div>
        <div class="actions"><button type="button" class="secondary" id="lim-cancel">Cancel</button><button type="submit">Save limits</button></div>
      </form>
    </dialog>`;
  const msg = document.getElementById("ty-msg");
  const rows = document.getElementById("type-rows");
  const dialog = document.getElementById("limits-dialog");
  const errors = formErrors("lim", { concurrency: "concurrency", rate_per_minute: "rate" });
  let known = [];
  let editing = null;
  const refresh = async () => {
    ({ types: known } = await api("/task-types"));
    patchHtml(rows, known.map(typeRowHtml).join(""));
  };
  const patch = async (type, body, done) => {
    const t = await api(`/task-types/${encodeURIComponent(type)}`, { method: "PATCH", json: body });
    say(msg, esc(done(t)));
    await refresh();
  };
  const describe = (t) => {
    const { concurrency, rate_per_minute: rate } = t.limits;
    return `${t.type}: ${
      concurrency === null ? "no concurrency limit" : `at most ${concurrency} at once`
    }, ${rate === null ? "no rate limit" : `at most ${rate} starts a minute`}.`;
  };
  rows.onclick = async (e) => {
    const button = e.target.closest("button[data-act]");
    if (!button) return;
    const t = known.find((x) => x.type === button.dataset.type);
    if (!t) return;
    if (button.dataset.act === "limits") {
      editing = t.type;
      errors.clear();
      document.getElementById("lim-type").textContent = t.type;
      document.getElementById("lim-concurrency").value = t.limits.concurrency ?? "";
      document.getElementById("lim-rate").value = t.limits.rate_per_minute ?? "";
      dialog.showModal();
      return;
    }
    try {
      await patch(
        t.type,
        { paused: !t.limits.paused },
        (changed) =>
          changed.limits.paused
            ? `Paused ${changed.type}: it starts nothing new.`
            : `Resumed ${changed.type}.`,
      );
    } catch (error) {
      say(msg, "", error);
    }
  };
  document.getElementById("lim-cancel").onclick = () => dialog.close();
  // the row may have been rebuilt while the dialog was open: the browser would put the focus
  // back on a button no longer in the page, so it goes to the row's button of today
  // (also at once after a save: the close event comes a task later, after the caller moved on)
  const refocus = () => rows.querySelector(`[data-key="limits:${CSS.escape(editing)}"]`)?.focus();
  dialog.addEventListener("close", refocus);
  document.getElementById("limits-form").onsubmit = async (e) => {
    e.preventDefault();
    errors.clear();
    const concurrency = limitValue(document.getElementById("lim-concurrency"));
    const rate = limitValue(document.getElementById("lim-rate"));
    const bad = [
      ...(concurrency === undefined ? [{ path: "concurrency", message: "a whole number" }] : []),
      ...(rate === undefined ? [{ path: "rate_per_minute", message: "a whole number" }] : []),
    ];
    if (bad.length) return errors.show(bad);
    try {
      await patch(editing, { concurrency, rate_per_minute: rate }, describe);
      dialog.close();
      refocus();
    } catch (error) {
      errors.showApiError(error);
    }
  };
  return every(2000, refresh);
}

// --- router ---

async function route() {
  stopCurrent();
  // a question asked for the view being left has no answer any more
  const confirm = document.getElementById("confirm-dialog");
  if (confirm.open) confirm.close();
  routedHash = location.hash;
  const { name, arg, params } = currentRoute();
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.toggleAttribute("aria-current", a.dataset.nav === (name === "task" ? "tasks" : name));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  const views = {
    overview,
    tasks: () => tasks(params),
    submit,
    schedules,
    types: typesView,
    quotes,
    outbox,
    task: () => taskDetail(arg),
  };
  try {
    stopCurrent = (await (views[name] ?? overview)()) ?? (() => {});
  } catch (error) {
    view.innerHTML = `<div class="error-box">${esc(error.message)}</div>`;
    stopCurrent = () => {};
  }
}

// Route changes run one after another: a view that is still loading its first data
// finishes (and is then stopped) before the next one renders, so none draws over another.
// Back and Forward fire popstate and hashchange both; a view is built once per hash.
let routing = Promise.resolve();
const navigate =
  () => (routing = routing.then(() => (location.hash === routedHash ? undefined : route())));
addEventListener("hashchange", navigate);
addEventListener("popstate", navigate);
navigate();
