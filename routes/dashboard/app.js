// Fila dashboard: a small single-page app over the JSON API. No build step.
// Views are hash routes (`#tasks?status=failed&page=2`, `#task/<id>`); each view polls
// while it is shown and stops when left.

const view = document.getElementById("view");
const FINAL = ["succeeded", "failed", "cancelled"];
const STATUSES = ["scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled"];
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
  document.getElementById("filters").onchange = (e) => {
    filters[e.target.name] = e.target.value;
    filters.page = 1;
    show(true);
  };
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

function taskDetail(id) {
  const controller = new AbortController();
  view.innerHTML = `<h2>Task <span id="d-title"></span></h2>
    <p><a href="${esc(lastListHash)}">← task list</a></p>
    <div class="actions"><button class="danger" id="cancel">Cancel</button><button class="secondary" id="retry">Retry</button><span id="d-msg" role="status"></span></div>
    <div class="grid2">
      <div>
        <p>Status: <span id="d-status"></span> · attempts <span id="d-attempts"></span></p>
        <progress id="d-progress" max="100" value="0" aria-label="progress"></progress> <span id="d-pmsg" class="muted"></span>
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

  const clearErrors = () => {
    for (const name of ["type", "priority", "delay", "payload"]) {
      const el = document.getElementById(`s-${name}-error`);
      el.hidden = true;
      el.textContent = "";
      document.getElementById(`s-${name}`).removeAttribute("aria-invalid");
    }
    const summary = document.getElementById("s-errors");
    summary.hidden = true;
    summary.replaceChildren();
  };
  /** Shows each issue beside its field, the rest above the button; focuses the first field. */
  const showErrors = (issues) => {
    const unplaced = [];
    let first = null;
    for (const { path, message } of issues) {
      const [head, ...rest] = String(path ?? "").split(".");
      const name = FIELD_OF[head];
      if (!name) {
        unplaced.push(path ? `${path}: ${message}` : message);
        continue;
      }
      const el = document.getElementById(`s-${name}-error`);
      const line = document.createElement("span");
      line.textContent = rest.length ? `${rest.join(".")}: ${message}` : message;
      el.append(line);
      el.hidden = false;
      const control = document.getElementById(`s-${name}`);
      control.setAttribute("aria-invalid", "true");
      first ??= control;
    }
    if (unplaced.length) {
      const summary = document.getElementById("s-errors");
      summary.replaceChildren(
        ...unplaced.map((text) =>
          Object.assign(document.createElement("p"), { textContent: text })
        ),
      );
      summary.hidden = false;
    }
    first?.focus();
  };

  document.getElementById("submit-form").onsubmit = async (e) => {
    e.preventDefault();
    const msg = document.getElementById("s-msg");
    msg.textContent = "";
    clearErrors();
    let payload;
    try {
      payload = JSON.parse(document.getElementById("s-payload").value || "{}");
    } catch (error) {
      showErrors([{ path: "payload", message: `not valid JSON (${error.message})` }]);
      return;
    }
    const delayText = document.getElementById("s-delay").value.trim();
    const delay = delayText === "" ? 0 : Number(delayText);
    if (!Number.isFinite(delay)) {
      showErrors([{ path: "delay_ms", message: "a number of milliseconds" }]);
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
      const issues = error.details?.issues;
      // the API lists field-level issues as [{ path, message }]; anything else has its message
      showErrors(
        Array.isArray(issues) && issues.length ? issues : [{ path: "", message: error.message }],
      );
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

// --- router ---

async function route() {
  stopCurrent();
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
