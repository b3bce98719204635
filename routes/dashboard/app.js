// Fila dashboard: a small single-page app over the JSON API. No build step.
// Views are hash routes; each view polls while it is shown and stops when left.

const view = document.getElementById("view");
const FINAL = ["succeeded", "failed", "cancelled"];
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
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status}`);
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
const badge = (status) =>
  `<span class="badge ${esc(status)}" data-status="${esc(status)}">${esc(status)}</span>`;
const json = (v) => esc(JSON.stringify(v, null, 2));

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

// --- views ---

function overview() {
  view.innerHTML = `<h2>Overview</h2>
    <div class="cards" id="by-status"></div>
    <h2>Waiting or running, by priority</h2><div class="cards" id="by-priority"></div>
    <h2>Finished per minute (last 15)</h2><div class="bars" id="throughput" role="img" aria-label="throughput"></div>
    <p class="muted" id="waiting"></p>
    <h2>Instances</h2>
    <div class="table-wrap"><table><thead><tr><th>Instance</th><th>Role</th><th>Driver</th><th>In flight</th><th class="opt">Heartbeat</th></tr></thead>
    <tbody id="instances"></tbody></table></div>`;
  return every(2000, async () => {
    const s = await api("/queue/stats");
    const cards = (o) =>
      Object.entries(o).map(([k, n]) =>
        `<div class="card"><div class="n">${n}</div><div class="label">${esc(k)}</div></div>`
      ).join("");
    document.getElementById("by-status").innerHTML = cards(s.counts.by_status);
    document.getElementById("by-priority").innerHTML = cards(s.counts.by_priority);
    const max = Math.max(1, ...s.throughput.map((m) => m.succeeded + m.failed));
    document.getElementById("throughput").innerHTML = s.throughput.map((m) =>
      `<div title="${esc(time(m.minute))}: ${m.succeeded} ok, ${m.failed} failed" style="height:${
        (100 * (m.succeeded + m.failed)) / max
      }%"></div>`
    ).join("");
    document.getElementById("waiting").textContent = `${s.waiting.total} waiting; oldest ${
      s.waiting.oldest_age_ms === null ? "—" : `${Math.round(s.waiting.oldest_age_ms / 1000)} s`
    }; ${s.last_minute.finished} finished in the last minute`;
    document.getElementById("instances").innerHTML = s.instances.map((i) =>
      `<tr><td>${esc(i.id)}</td><td>${esc(i.role)}</td><td>${
        esc(i.driver)
      }</td><td>${i.in_flight} / ${i.concurrency}</td><td class="opt">${
        time(i.last_heartbeat)
      }</td></tr>`
    ).join("");
  });
}

const listState = { status: "", type: "", priority: "", offset: 0, limit: 20 };

async function tasks() {
  const types = await api("/task-types");
  const options = (values, selected) =>
    `<option value="">any</option>` +
    values.map((v) => `<option ${v === selected ? "selected" : ""}>${esc(v)}</option>`).join("");
  view.innerHTML = `<h2>Tasks</h2>
    <form class="filters" id="filters">
      <div><label for="f-status">Status</label><select id="f-status" name="status">${
    options(
      ["scheduled", "queued", "running", "retrying", "succeeded", "failed", "cancelled"],
      listState.status,
    )
  }</select></div>
      <div><label for="f-type">Type</label><select id="f-type" name="type">${
    options(types.types.map((t) => t.type), listState.type)
  }</select></div>
      <div><label for="f-priority">Priority</label><select id="f-priority" name="priority">${
    options(["high", "medium", "low"], listState.priority)
  }</select></div>
    </form>
    <div class="table-wrap"><table><thead><tr><th>Task</th><th>Type</th><th>Status</th><th>Priority</th><th>Progress</th><th class="opt">Created</th></tr></thead>
    <tbody id="task-rows"></tbody></table></div>
    <div class="pager"><button class="secondary" id="prev">Previous</button><span id="page" class="muted"></span><button class="secondary" id="next">Next</button></div>`;
  document.getElementById("filters").onchange = (e) => {
    listState[e.target.name] = e.target.value;
    listState.offset = 0;
    refresh();
  };
  document.getElementById("prev").onclick = () => {
    listState.offset = Math.max(0, listState.offset - listState.limit);
    refresh();
  };
  document.getElementById("next").onclick = () => {
    listState.offset += listState.limit;
    refresh();
  };
  const rows = document.getElementById("task-rows");
  rows.onclick = (e) => {
    const row = e.target.closest("tr[data-id]");
    if (row) location.hash = `#task/${row.dataset.id}`;
  };
  rows.onkeydown = (e) => {
    const row = e.target.closest("tr[data-id]");
    if (row && e.key === "Enter") location.hash = `#task/${row.dataset.id}`;
  };
  async function refresh() {
    const q = new URLSearchParams({ limit: listState.limit, offset: listState.offset });
    for (const k of ["status", "type", "priority"]) if (listState[k]) q.set(k, listState[k]);
    const page = await api(`/tasks?${q}`);
    // the rows are rebuilt on every poll: put keyboard focus back on the row that had it
    const focused = document.activeElement?.closest?.("tr[data-id]")?.dataset.id;
    rows.innerHTML =
      page.tasks.map((t) =>
        `<tr data-id="${esc(t.id)}" tabindex="0"><td><a href="#task/${esc(t.id)}">${
          esc(t.title ?? t.id.slice(-8))
        }</a></td><td>${esc(t.type)}</td><td>${badge(t.status)}</td><td>${
          esc(t.priority)
        }</td><td><progress max="100" value="${t.progress}" aria-label="progress">${t.progress}%</progress></td><td class="opt">${
          time(t.created_at)
        }</td></tr>`
      ).join("") || `<tr><td colspan="6" class="muted">No tasks.</td></tr>`;
    if (focused) rows.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
    document.getElementById("page").textContent = `${page.total === 0 ? 0 : listState.offset + 1}–${
      listState.offset + page.count
    } of ${page.total}`;
    document.getElementById("prev").disabled = listState.offset === 0;
    document.getElementById("next").disabled = listState.offset + page.count >= page.total;
  }
  return every(1500, refresh);
}

function taskDetail(id) {
  const controller = new AbortController();
  view.innerHTML = `<h2>Task <span id="d-title"></span></h2>
    <p><a href="#tasks">← all tasks</a></p>
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

async function submit() {
  const { types } = await api("/task-types");
  view.innerHTML = `<h2>Submit a task</h2>
    <form id="submit-form">
      <div class="filters">
        <div><label for="s-type">Type</label><select id="s-type" name="type">${
    types.map((t) => `<option value="${esc(t.type)}">${esc(t.type)}</option>`).join("")
  }</select></div>
        <div><label for="s-priority">Priority</label><select id="s-priority" name="priority"><option>high</option><option selected>medium</option><option>low</option></select></div>
        <div><label for="s-delay">Delay (ms)</label><input id="s-delay" name="delay_ms" type="number" min="0" value="0"></div>
      </div>
      <p class="muted" id="s-description"></p>
      <label for="s-payload">Payload (JSON)</label>
      <textarea id="s-payload" name="payload"></textarea>
      <div class="actions"><button type="submit">Submit</button><span id="s-msg" role="status"></span></div>
    </form>`;
  const select = document.getElementById("s-type");
  const fill = () => {
    const t = types.find((x) => x.type === select.value);
    document.getElementById("s-payload").value = JSON.stringify(t.example, null, 2);
    document.getElementById("s-description").textContent = t.description;
  };
  select.onchange = fill;
  fill();
  document.getElementById("submit-form").onsubmit = async (e) => {
    e.preventDefault();
    const msg = document.getElementById("s-msg");
    let payload;
    try {
      payload = JSON.parse(document.getElementById("s-payload").value || "{}");
    } catch {
      msg.textContent = "The payload is not valid JSON.";
      return;
    }
    try {
      const delay = Number(document.getElementById("s-delay").value || 0);
      const task = await api("/tasks", {
        method: "POST",
        json: {
          type: select.value,
          payload,
          priority: document.getElementById("s-priority").value,
          ...(delay > 0 ? { delay_ms: delay } : {}),
        },
      });
      Object.assign(listState, { status: "", type: "", priority: "", offset: 0 });
      msg.textContent = `Submitted ${task.id}`;
      location.hash = "#tasks";
    } catch (error) {
      msg.textContent = error.message;
    }
  };
  return () => {};
}

async function quotes() {
  const { pairs } = await api("/currency/pairs");
  view.innerHTML = `<h2>Quotes</h2><div class="cards" id="q-cards"></div>
    <h2>History</h2>
    <div class="filters"><div><label for="q-pair">Pair</label><select id="q-pair">${
    pairs.map((p) => `<option>${esc(p)}</option>`).join("")
  }</select></div></div>
    <div class="chart" id="q-chart"></div>`;
  let plot = null;
  let drawn = "";
  const chartEl = document.getElementById("q-chart");
  const draw = async () => {
    const pair = document.getElementById("q-pair").value;
    const { quotes } = await api(`/currency/history?pair=${encodeURIComponent(pair)}&limit=500`);
    const points = quotes.slice().reverse();
    const data = [points.map((q) => Date.parse(q.timestamp) / 1000), points.map((q) => q.bid)];
    const width = Math.max(300, chartEl.clientWidth - 20);
    // polled every few seconds: rebuild the chart only when its data or width changed
    const key = `${pair} ${width} ${points.length} ${points.at(-1)?.timestamp}`;
    if (key === drawn) return;
    drawn = key;
    if (plot) plot.destroy();
    chartEl.querySelector(".muted")?.remove();
    if (points.length === 0) {
      plot = null;
      chartEl.innerHTML = `<p class="muted">No readings of ${esc(pair)} yet.</p>`;
      return;
    }
    // deno-lint-ignore no-undef
    plot = new uPlot(
      { width, height: 260, series: [{}, { label: `${pair} bid`, stroke: "#0b57d0", width: 2 }] },
      data,
      chartEl,
    );
  };
  document.getElementById("q-pair").onchange = draw;
  const stop = every(5000, async () => {
    // the newest reading of each pair; history answers 200 with none yet, where /currency
    // answers 404 (which the browser would log as a console error on a fresh install)
    const latest = await Promise.all(
      pairs.map((p) =>
        api(`/currency/history?pair=${encodeURIComponent(p)}&limit=1`)
          .then((h) => h.quotes[0] ?? null)
          .catch(() => null)
      ),
    );
    document.getElementById("q-cards").innerHTML = latest.map((q, i) =>
      q
        ? `<div class="card"><div class="label">${
          esc(pairs[i])
        }</div><div class="n">${q.bid}</div><div class="label">${
          q.pct_change === null
            ? ""
            : `${q.pct_change > 0 ? "▲" : q.pct_change < 0 ? "▼" : ""} ${q.pct_change}%`
        } · ${time(q.timestamp)}</div></div>`
        : `<div class="card"><div class="label">${
          esc(pairs[i])
        }</div><div class="muted">no quote yet</div></div>`
    ).join("");
    await draw();
  });
  return () => {
    stop();
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
  const [name, arg] = (location.hash.slice(1) || "overview").split("/");
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.toggleAttribute("aria-current", a.dataset.nav === (name === "task" ? "tasks" : name));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  const views = { overview, tasks, submit, quotes, outbox, task: () => taskDetail(arg) };
  try {
    stopCurrent = (await (views[name] ?? overview)()) ?? (() => {});
  } catch (error) {
    view.innerHTML = `<div class="error-box">${esc(error.message)}</div>`;
    stopCurrent = () => {};
  }
}

// Route changes run one after another: a view that is still loading its first data
// finishes (and is then stopped) before the next one renders, so none draws over another.
let routing = Promise.resolve();
const navigate = () => (routing = routing.then(route));
addEventListener("hashchange", navigate);
navigate();
