// Switchboard console: a client of the public API, for a person signed in with their email
// and password (the server's session cookie), or, as a break-glass, under an API key.
//
// Every value reaches the page through textContent or an attribute, never as HTML, so a
// nickname such as <img src=x onerror=alert(1)> shows as text. A person's session is an
// HttpOnly cookie this script never sees; every change it makes carries X-CSRF-Token, read
// from the switchboard_csrf cookie. A key lives in this tab's sessionStorage only (so a
// reload keeps it; closing the tab or signing out forgets it) and goes out only in the
// Authorization header. The server enforces every rule; what the caller's scopes (a key's, or
// a person's role's) forbid is shown here as unavailable so nobody clicks into a 403.

const KEY_SLOT = "switchboard.console.key";
const main = document.getElementById("main");
const top = document.getElementById("top");
// { key?: the API key, or none for a person; me: GET /v1/me: { key | user, workspace } }
let session = null;

// ---------- DOM ----------

/** Makes an element. `props`: attributes, `class`, `text`, and `on<event>` handlers. */
function h(tag, props = {}, ...children) {
  const svg = ["svg", "rect", "text", "g", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name === "class" ? "class" : name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A number type as people read it; the pricing table spells toll-free DialNexa's way (`tollfree`). */
function typeLabel(type) {
  return { local: "Local", tollfree: "Toll-free", toll_free: "Toll-free", mobile: "Mobile" }[type] || type;
}

/** Who made a change: the person's address, the key's name with its id, the command line, or the server. */
function actorLabel(entry) {
  if (entry.actor.startsWith("usr_")) return entry.actor_name || `person ${entry.actor}`;
  if (entry.actor_name) return `${entry.actor_name} (key ${entry.actor})`;
  if (entry.actor === "cli") return "the command line";
  if (entry.actor === "switchboard") return "Switchboard itself";
  if (entry.actor === "anonymous") return "someone signing in";
  return `key ${entry.actor}`;
}

function show(...nodes) {
  // replaceChildren would print a left-out part (null) as the text "null".
  main.replaceChildren(...nodes.flat().filter((node) => node !== null && node !== undefined && node !== false));
}

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (box.textContent = ""), 5000);
}

function errorBox(error) {
  return h("p", { class: "notice bad", role: "alert" }, error.message || String(error));
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** The value of a cookie this page may read (the forgery token's). */
function cookie(name) {
  const pair = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return pair ? pair.slice(name.length + 1) : null;
}

/**
 * Calls the API as the signed-in person (their session cookie, and X-CSRF-Token on changes)
 * or with the key; throws ApiError with the API's own `message`. `person: true` asks as a
 * person even before there is a session (signing in).
 */
async function api(method, path, { body, headers = {}, key, person = false } = {}) {
  const bearer = key || (!person && session && session.key);
  const init = { method, headers: { ...headers }, cache: "no-store", credentials: "same-origin" };
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  else if (method !== "GET" && cookie("switchboard_csrf")) init.headers["X-CSRF-Token"] = cookie("switchboard_csrf");
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "The server cannot be reached. Check that switchboard is running.");
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) {
    const message = (data && data.message) || `The server answered ${response.status}.`;
    if (response.status === 401 && !key && !person && session) {
      forget(`Signed out: ${message}`);
    }
    throw new ApiError(response.status, message, data);
  }
  return { data, etag: response.headers.get("ETag"), status: response.status };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** The caller as /v1/me describes it: the key, or the person. */
const caller = () => session.me.key || session.me.user;
const can = (scope) => caller().scopes.includes(scope);

// ---------- formatting ----------

const money = (usd) => `$${Number(usd || 0).toFixed(2)}`;
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
let countryRules = null; // [{country_iso, country_name, calling_code, requires_kyc}]

async function loadCountryRules() {
  if (!countryRules) countryRules = (await api("GET", "/v1/phone-country-rules/countries")).data;
  return countryRules;
}

/** The number as dialled inside its country (libphonenumber-js, vendored: see README). */
function national(e164) {
  try {
    return globalThis.libphonenumber.parsePhoneNumber(e164).formatNational();
  } catch {
    return e164;
  }
}

function numberCell(n) {
  return h("td", {}, h("a", { href: `#/numbers/${n.id}` }, n.phone_number), h("span", { class: "national" }, national(n.phone_number)));
}

// ---------- routing ----------

const routes = [
  [/^#\/numbers\/([a-z0-9_]+)$/, numberPage],
  [/^#\/numbers$/, numbersPage],
  [/^#\/buy$/, buyPage],
  [/^#\/link$/, linkPage],
  [/^#\/agents$/, agentsPage],
  [/^#\/keys$/, keysPage],
  [/^#\/users$/, usersPage],
  [/^#\/webhooks\/([a-z0-9_]+)$/, webhookPage],
  [/^#\/webhooks$/, webhooksPage],
  [/^#\/reports$/, reportsPage],
  [/^#\/calls$/, callsPage],
];

function currentParams() {
  const [, search = ""] = location.hash.split("?");
  return new URLSearchParams(search);
}

function go(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  if (!session) return signInPage();
  const [path] = (location.hash || "#/numbers").split("?");
  const match = routes.find(([pattern]) => pattern.test(path));
  if (!match) return go("#/numbers");
  renderTop(path);
  show(h("p", { class: "loading" }, "Loading…"));
  try {
    await match[1](...path.match(match[0]).slice(1));
  } catch (error) {
    show(h("h1", {}, "Something went wrong"), errorBox(error));
  }
  main.focus({ preventScroll: true });
}

function renderTop(path) {
  const link = (hash, label, scope) => {
    if (scope && !can(scope)) {
      return h("span", { class: "unavailable", title: `Needs the ${scope} scope`, "aria-disabled": "true" }, label);
    }
    return h("a", { href: hash, "aria-current": path.startsWith(hash) ? "page" : null }, label);
  };
  top.replaceChildren(
    h("span", { class: "brand" }, "Switchboard"),
    h("nav", { "aria-label": "Main" },
      link("#/numbers", "Numbers"),
      link("#/buy", "Buy", "phone_numbers:write"),
      link("#/link", "Link SIP trunk", "phone_numbers:write"),
      link("#/agents", "Agents", "agents:read"),
      link("#/calls", "Calls", "calls:read"),
      link("#/keys", "API keys", "api_keys:manage"),
      link("#/webhooks", "Webhooks", "webhooks:manage"),
      link("#/users", "People", "users:manage"),
      link("#/reports", "Reports"),
    ),
    h("span", { class: "who" }, session.me.user
      ? `${session.me.workspace.name} · ${session.me.user.email} (${session.me.user.role})`
      : `${session.me.workspace.name} · key ${session.me.key.name}`),
    h("button", { class: "secondary", type: "button", onclick: () => signOut("Signed out.") }, "Sign out"),
  );
}

// ---------- sign in ----------

/** Ends a person's session on the server (every replica), then forgets it here. */
async function signOut(message) {
  if (session && !session.key) {
    try { await api("POST", "/auth/logout", { person: true }); } catch { /* forgotten here all the same */ }
  }
  forget(message);
}

/** Forgets the session or key in this tab. */
function forget(message) {
  session = null;
  sessionStorage.removeItem(KEY_SLOT);
  countryRules = null;
  top.replaceChildren();
  signInPage(message);
}

/** Signs in as a person: email and password, the usual way. */
function signInPage(message) {
  top.replaceChildren();
  const setup = /^#set-password=(.+)$/.exec(location.hash);
  if (setup) return setPasswordPage(decodeURIComponent(setup[1]));
  const failed = /^#sign-in-error=(.*)$/.exec(location.hash);
  if (failed) {
    // Why a sign-in through the identity provider failed: said once, then out of the address.
    message = decodeURIComponent(failed[1].replace(/\+/g, " "));
    history.replaceState(null, "", "#/numbers");
  }
  const provider = h("div", { class: "actions" });
  api("GET", "/auth/methods", { person: true }).then(({ data }) => {
    if (data && data.oidc) {
      provider.replaceChildren(h("a", { class: "button", id: "sign-in-provider", href: "/auth/oidc/login" }, "Sign in with your identity provider"));
    }
  }).catch(() => {});
  const email = h("input", { id: "email", name: "email", type: "email", autocomplete: "username", required: true, spellcheck: "false" });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const status = h("div", { "aria-live": "polite" }, message ? h("p", { class: "notice" }, message) : null);
  const form = h("form", { class: "card signin", onsubmit: async (event) => {
    event.preventDefault();
    status.replaceChildren(h("p", { class: "loading" }, "Signing in…"));
    try {
      await api("POST", "/auth/login", { body: { email: email.value, password: password.value }, person: true });
      password.value = "";
      session = { me: (await api("GET", "/v1/me", { person: true })).data };
      if (!location.hash || location.hash === "#/") location.hash = "#/numbers";
      else render();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  } },
    h("h1", {}, "Sign in to Switchboard"),
    h("label", { for: "email" }, "Email address"),
    email,
    h("label", { for: "password" }, "Password"),
    password,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")),
    status,
    provider,
    h("p", { class: "muted" }, "No account? An admin invites you from the People page, or runs switchboard user create. ",
      h("a", { href: "#", id: "use-key", onclick: (event) => { event.preventDefault(); keySignInPage(); } }, "Use an API key instead"),
      " (for when no person can sign in)."),
  );
  show(form);
  email.focus();
}

/** Sets a password with the one-time link an admin or `switchboard user create` handed out. */
function setPasswordPage(token) {
  const password = h("input", { id: "new-password", name: "new-password", type: "password", autocomplete: "new-password", required: true, minlength: 12, maxlength: 256 });
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card signin", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/auth/password", { body: { token, password: password.value }, person: true });
      password.value = "";
      history.replaceState(null, "", "#/numbers");
      signInPage("Your password is set. Sign in with it.");
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  } },
    h("h1", {}, "Choose your password"),
    h("p", { class: "muted" }, "At least 12 characters. This link works once."),
    h("label", { for: "new-password" }, "New password"),
    password,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Set password")),
    status,
  );
  show(form);
  password.focus();
}

/** Break-glass: sign in with an API key (when the people who could sign in cannot). */
function keySignInPage(message) {
  top.replaceChildren();
  const input = h("input", { id: "api-key", name: "api-key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const status = h("div", { "aria-live": "polite" }, message ? h("p", { class: "notice" }, message) : null);
  const form = h("form", { class: "card signin", onsubmit: async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    status.replaceChildren(h("p", { class: "loading" }, "Checking the key…"));
    try {
      const me = (await api("GET", "/v1/me", { key })).data;
      session = { key, me };
      sessionStorage.setItem(KEY_SLOT, key);
      input.value = "";
      if (!location.hash || location.hash === "#/") location.hash = "#/numbers";
      else render();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  } },
    h("h1", {}, "Sign in with an API key"),
    h("p", { class: "muted" }, "Paste an API key (switchboard serve --demo prints one). It is kept in this tab only and forgotten when you sign out or close the tab. ",
      h("a", { href: "#", onclick: (event) => { event.preventDefault(); signInPage(); } }, "Sign in with your email instead"), "."),
    h("label", { for: "api-key" }, "API key"),
    input,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Sign in")),
    status,
  );
  show(form);
  input.focus();
}

// ---------- dialogs ----------

/** A modal that asks to confirm; resolves true when confirmed. `onConfirm` may run the action. */
function confirmDialog({ title, body, confirmLabel, danger = false, onConfirm }) {
  return new Promise((resolve) => {
    const problem = h("div", { "aria-live": "assertive" });
    const confirmButton = h("button", { type: "button", class: danger ? "danger" : "" }, confirmLabel);
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" },
      h("h2", { id: "dialog-title" }, title), ...[].concat(body), problem,
      h("div", { class: "actions" }, confirmButton, cancel));
    const close = (result) => { dialog.close(); dialog.remove(); resolve(result); };
    cancel.addEventListener("click", () => close(false));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); if (!confirmButton.disabled) close(false); });
    confirmButton.addEventListener("click", async () => {
      // One click, one attempt: a double click lands on a disabled button.
      confirmButton.disabled = true;
      cancel.disabled = true;
      try {
        if (onConfirm) await onConfirm();
        close(true);
      } catch (error) {
        problem.replaceChildren(errorBox(error));
        confirmButton.disabled = false;
        cancel.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// ---------- numbers ----------

const FILTERS = ["country_code", "type", "status", "provider", "agent_id", "q"];

async function agentsList() {
  if (!can("agents:read")) return [];
  return (await api("GET", "/v1/agents?limit=100")).data.items;
}

async function numbersPage() {
  const params = currentParams();
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const limit = 20;
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) || ""]));
  const [rules, agents, list, summary] = await Promise.all([
    loadCountryRules(),
    agentsList(),
    api("GET", `/v1/organization-phone-numbers${query({ ...filters, page, limit })}`),
    api("GET", `/v1/organization-phone-numbers/summary${query(filters)}`),
  ]);
  const agentName = (id) => (agents.find((a) => a.id === id) || {}).name || id;
  const field = (name, label, control) => h("label", {}, label, control);
  const select = (name, options) => h("select", { name },
    ...options.map(([value, label]) => h("option", { value, selected: filters[name] === value ? true : null }, label)));
  const form = h("form", { class: "filters card", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const f of FILTERS) next[f] = (data.get(f) || "").trim();
    go(`#/numbers${query(next)}`);
  } },
    field("q", "Search", h("input", { name: "q", value: filters.q, placeholder: "number, nickname or label" })),
    field("country_code", "Country", select("country_code", [["", "Any"], ...rules.map((c) => [c.country_iso, `${c.country_name} (${c.country_iso})`])])),
    field("type", "Type", select("type", [["", "Any"], ["local", "Local"], ["toll_free", "Toll-free"], ["mobile", "Mobile"]])),
    field("status", "Status", select("status", [["", "Any"], ["active", "Active"], ["pending", "Pending"]])),
    field("provider", "Provider", h("input", { name: "provider", value: filters.provider, placeholder: "sandbox, plivo, sip_trunk…" })),
    can("agents:read")
      ? field("agent_id", "Inbound agent", select("agent_id", [["", "Any"], ...agents.map((a) => [a.id, a.name])]))
      : null,
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply"), h("a", { href: "#/numbers" }, "Clear")),
  );
  const { items, total } = list.data;
  const reroutable = can("phone_numbers:write") && can("agents:read");
  const picked = new Set();
  const rows = items.map((n) => h("tr", {},
    reroutable ? h("td", {}, h("input", { type: "checkbox", name: "pick", value: n.id, "aria-label": `Select ${n.phone_number}`,
      onchange: (event) => { if (event.target.checked) picked.add(n.id); else picked.delete(n.id); } })) : null,
    numberCell(n),
    h("td", {}, n.nickname || "—"),
    h("td", { class: "hide-narrow" }, n.label || "—"),
    h("td", { class: "hide-narrow" }, n.inbound_agent_id ? agentName(n.inbound_agent_id) : "—"),
    h("td", { class: "num" }, money(n.monthly_cost_usd)),
    h("td", {}, h("span", { class: `badge ${n.status}` }, n.status), n.is_default ? " default" : ""),
  ));
  const pages = Math.max(1, Math.ceil(total / limit));
  const pageLink = (p, label) => h("a", { href: `#/numbers${query({ ...filters, page: p })}` }, label);
  show(
    h("h1", {}, "Numbers"),
    form,
    h("p", { class: "total", id: "total" },
      `${summary.data.count} number${summary.data.count === 1 ? "" : "s"} · ${money(summary.data.monthly_cost_usd)} a month`),
    items.length
      ? h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, reroutable ? h("th", {}, h("span", { class: "sr-only" }, "Select")) : null, h("th", {}, "Number"), h("th", {}, "Nickname"), h("th", { class: "hide-narrow" }, "Label"),
          h("th", { class: "hide-narrow" }, "Inbound agent"), h("th", { class: "num" }, "Monthly"), h("th", {}, "Status"))),
        h("tbody", {}, rows)))
      : h("p", { class: "card muted" }, total ? "No numbers on this page." : "No numbers match. Buy one, link a SIP trunk, or clear the filters."),
    reroutable && items.length ? rerouteForm(agents, picked) : null,
    h("nav", { class: "pager", "aria-label": "Pages" },
      page > 1 ? pageLink(page - 1, "← Previous") : null,
      h("span", {}, `Page ${Math.min(page, pages)} of ${pages}`),
      page < pages ? pageLink(page + 1, "Next →") : null),
  );
}

/** Re-routes the selected numbers in one bulk update: a dry run says what would change first. */
function rerouteForm(agents, picked) {
  const agent = h("select", { name: "reroute_agent" }, h("option", { value: "" }, "No agent"),
    ...agents.map((a) => h("option", { value: a.id }, a.name)));
  const result = h("div", { "aria-live": "polite" });
  const send = async (dryRun) => {
    if (!picked.size) return result.replaceChildren(h("p", { class: "notice bad", role: "alert" }, "Select the numbers to re-route first."));
    try {
      const { data } = await api("POST", "/v1/organization-phone-numbers/bulk-update",
        { body: { ids: [...picked], changes: { inbound_agent_id: agent.value || null }, dry_run: dryRun } });
      if (!dryRun) { toast(`${data.changed} number${data.changed === 1 ? "" : "s"} re-routed.`); return render(); }
      const changing = data.items.filter((item) => Object.keys(item.changes).length);
      return result.replaceChildren(h("p", { class: "notice" },
        `${data.changed} of ${data.items.length} would change${changing.length ? `: ${changing.map((i) => i.phone_number).join(", ")}` : ""}; nothing is saved until you apply.`));
    } catch (error) { return result.replaceChildren(errorBox(error)); }
  };
  return h("form", { class: "card reroute", onsubmit: (event) => { event.preventDefault(); send(false); } },
    h("label", {}, "Route the selected numbers to", agent),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: () => send(true) }, "Preview"),
      h("button", { type: "submit" }, "Re-route selected")),
    result);
}

async function numberPage(id, notice) {
  const [{ data: number, etag }, agents, history, carrier] = await Promise.all([
    api("GET", `/v1/organization-phone-numbers/${id}`),
    agentsList(),
    api("GET", `/v1/organization-phone-numbers/${id}/history?limit=50`),
    api("GET", "/v1/organization-phone-numbers/compliance?code=carrier_drift,missing_at_carrier").then((r) => r.data),
  ]);
  // What the last reconcile with its carrier found about this number.
  const carrierFindings = carrier.findings.filter((f) => f.phone_number_id === number.id);
  const writable = can("phone_numbers:write");
  const agentName = (agentId) => (agents.find((a) => a.id === agentId) || {}).name || agentId || "—";
  const fields = [
    ["Number", number.phone_number], ["National format", national(number.phone_number)],
    ["Id", number.id], ["Country", number.country_code], ["Type", number.type],
    ["Monthly cost", money(number.monthly_cost_usd)], ["Capabilities", number.capabilities.join(", ") || "—"],
    ["Nickname", number.nickname || "—"], ["Label", number.label || "—"],
    ["Inbound agent", number.inbound_agent_id ? agentName(number.inbound_agent_id) : "—"],
    ["Outbound agent", number.outbound_agent_id ? agentName(number.outbound_agent_id) : "—"],
    ["Status", number.status], ["Provider", number.provider], ["SIP trunk", number.sip_trunk_enabled ? "yes" : "no"],
    ["Default number", number.is_default ? "yes" : "no"], ["Created", when(number.created_at)], ["Updated", when(number.updated_at)],
  ];
  const agentOptions = (selected) => [h("option", { value: "" }, "None"),
    ...agents.map((a) => h("option", { value: a.id, selected: a.id === selected ? true : null }, a.name))];
  const status = h("div", { "aria-live": "polite" }, notice || null);
  const edit = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(edit);
    const patch = {
      nickname: data.get("nickname").trim() || null,
      label: data.get("label").trim() || null,
      is_default: data.get("is_default") === "on",
    };
    if (can("agents:read")) {
      patch.inbound_agent_id = data.get("inbound_agent_id") || null;
      patch.outbound_agent_id = data.get("outbound_agent_id") || null;
    }
    const save = edit.querySelector("button[type=submit]");
    save.disabled = true;
    try {
      await api("PATCH", `/v1/organization-phone-numbers/${id}`, { body: patch, headers: { "If-Match": etag } });
      toast("Saved.");
      await numberPage(id, h("p", { class: "notice good" }, "Saved."));
    } catch (error) {
      if (error.status === 412) {
        await numberPage(id, h("p", { class: "notice bad", role: "alert" },
          "Someone else changed this number after you opened it, so your edit was not saved. This is its current state; make your change again if it still applies."));
      } else {
        status.replaceChildren(errorBox(error));
        save.disabled = false;
      }
    }
  } },
    h("h2", {}, "Edit"),
    h("div", { class: "form-grid" },
      h("label", {}, "Nickname", h("input", { name: "nickname", value: number.nickname || "", maxlength: 255 })),
      h("label", {}, "Label", h("input", { name: "label", value: number.label || "", maxlength: 255 })),
      can("agents:read") ? h("label", {}, "Inbound agent", h("select", { name: "inbound_agent_id" }, agentOptions(number.inbound_agent_id))) : null,
      can("agents:read") ? h("label", {}, "Outbound agent", h("select", { name: "outbound_agent_id" }, agentOptions(number.outbound_agent_id))) : null,
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "is_default", checked: number.is_default ? true : null }), "Default number"),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save changes")),
  );
  // Switchboard releases a number at its provider only when it manages that provider (one it
  // sells through); any other number is only removed here, as the API's answer says.
  const managed = number.provider === "sip_trunk" || session.me.providers.includes(number.provider);
  const releaseEffect = number.provider === "sip_trunk"
    ? "Releasing it unlinks it from Switchboard; the number stays yours at your SIP provider."
    : managed
      ? `Releasing it gives it back to ${number.provider} and stops its monthly cost; anyone may buy it after that.`
      : `Switchboard does not manage ${number.provider}: releasing only removes the number here. Release it at ${number.provider} too, or it keeps costing money there.`;
  let releaseAnswer = null;
  const release = h("button", { type: "button", class: "danger", disabled: number.is_default ? true : null, onclick: async () => {
    const released = await confirmDialog({
      title: `Release ${number.phone_number}?`,
      body: [h("p", {}, `${number.phone_number} (${number.nickname || "no nickname"}) costs ${money(number.monthly_cost_usd)} a month. ${releaseEffect} Its history is kept.`)],
      confirmLabel: `Release ${number.phone_number}`,
      danger: true,
      onConfirm: async () => {
        releaseAnswer = (await api("DELETE", `/v1/organization-phone-numbers/${id}`, { headers: { "If-Match": etag } })).data;
      },
    });
    if (released) { toast((releaseAnswer && releaseAnswer.message) || `${number.phone_number} released.`); go("#/numbers"); }
  } }, "Release number");
  const timeline = h("ol", { class: "timeline" }, history.data.items.map((entry) => h("li", {},
    h("strong", {}, entry.action), " ", h("span", { class: "muted" }, `${when(entry.at)} by ${actorLabel(entry)}`),
    ...Object.entries(entry.changes || {}).map(([field, change]) => {
      // Agents by name, not by bare id.
      const shown = (value) => (field.endsWith("agent_id") && value ? agentName(value) : JSON.stringify(value));
      return h("div", { class: "change" }, `${field}: ${shown(change.before)} → ${shown(change.after)}`);
    }))));
  show(
    h("p", {}, h("a", { href: "#/numbers" }, "← Numbers")),
    h("h1", {}, number.phone_number, number.nickname ? ` · ${number.nickname}` : ""),
    status,
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h2", {}, "Details"), h("dl", { class: "fields" }, fields.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))),
      h("section", {},
        writable ? edit : h("p", { class: "notice" }, "You cannot change numbers (that needs phone_numbers:write)."),
        writable ? h("section", { class: "card" }, h("h2", {}, "Release"),
          number.is_default
            ? h("p", { class: "muted" }, "This is the workspace's default number, so it cannot be released. Make another number the default first.")
            : h("p", { class: managed ? "muted" : "notice" }, releaseEffect),
          h("div", { class: "actions" }, release)) : null)),
    carrierFindings.length ? h("section", { class: "card" }, h("h2", {}, `At ${number.provider}`),
      ...carrierFindings.map((f) => h("p", { class: "notice bad" }, f.message)),
      h("p", { class: "muted" }, "Found by the last reconcile with the carrier (every --reconcile-interval; switchboard numbers reconcile runs it now).")) : null,
    routingCard(number, etag, agentName, writable),
    h("section", { class: "card" }, h("h2", {}, "History"), history.data.items.length ? timeline : h("p", { class: "muted" }, "No changes yet.")),
  );
}

/** A routing policy in words: one line per rule. */
function describePolicy(policy, agentName) {
  const target = (t) => (t.agent_id ? agentName(t.agent_id) : t.destination);
  return policy.rules.map((rule) => {
    const when = rule.when
      ? [rule.when.days.length === 7 ? "every day" : rule.when.days.join(", "),
        rule.when.from ? `${rule.when.from}–${rule.when.to}` : "all day",
        rule.when.except_dates.length ? `except ${rule.when.except_dates.join(", ")}` : null].filter(Boolean).join(" ")
      : "always";
    const total = rule.targets.reduce((sum, t) => sum + t.weight, 0);
    const targets = rule.targets.map((t) => (rule.targets.length > 1 ? `${target(t)} (${Math.round((100 * t.weight) / total)}%)` : target(t))).join(" or ");
    const fallback = rule.fallback.length ? `, then ${rule.fallback.map(target).join(", then ")}` : "";
    return `${rule.name ? `${rule.name}: ` : ""}${when} → ${targets}${fallback}`;
  });
}

/** The number's routing policy: in words, as JSON to edit, and what a call at a chosen moment would do. */
function routingCard(number, etag, agentName, writable) {
  const policy = number.routing;
  const status = h("div", { "aria-live": "polite" });
  const example = { time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC", rules: [
    { name: "business hours", when: { days: ["mon", "tue", "wed", "thu", "fri"], from: "09:00", to: "17:00" },
      targets: [{ agent_id: number.inbound_agent_id || "agt_…", weight: 1 }], fallback: [] }] };
  const text = h("textarea", { name: "routing", rows: 14, spellcheck: "false", "aria-label": "Routing policy (JSON)" });
  text.value = JSON.stringify(policy || example, null, 2);
  const save = async (body) => {
    try {
      await api("PATCH", `/v1/organization-phone-numbers/${number.id}`, { body, headers: { "If-Match": etag } });
      toast("Routing saved.");
      await numberPage(number.id, h("p", { class: "notice good" }, "Routing saved."));
    } catch (error) { status.replaceChildren(errorBox(error)); }
  };
  const editor = h("form", { class: "routing-form", onsubmit: (event) => {
    event.preventDefault();
    let parsed;
    try { parsed = JSON.parse(text.value); } catch (error) {
      return status.replaceChildren(errorBox(new Error(`The policy is not JSON: ${error.message}`)));
    }
    return save({ routing: parsed });
  } }, h("label", {}, "Policy (JSON; docs/api.md explains each field)", text),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Save policy"),
      policy ? h("button", { type: "button", class: "secondary", onclick: () => save({ routing: null }) }, "Remove policy") : null));
  const at = h("input", { type: "datetime-local", name: "at", "aria-label": "Moment to preview" });
  const result = h("div", { class: "route-preview", "aria-live": "polite" });
  const preview = async () => {
    const moment = at.value ? new Date(at.value).toISOString() : undefined;
    try {
      const { data } = await api("GET", `/v1/organization-phone-numbers/${number.id}/route${query({ at: moment })}`);
      const row = (t) => h("li", {}, t.agent_name ? `${t.agent_name} → ` : "", t.destination || "no destination",
        t.share !== undefined ? ` (${Math.round(t.share * 100)}%)` : "", t.can_take_calls ? "" : " — cannot take calls");
      result.replaceChildren(
        h("p", { class: data.routable ? "notice good" : "notice bad" }, data.reason),
        data.targets.length ? h("p", {}, "Targets, one picked by weight:") : null, h("ul", {}, data.targets.map(row)),
        data.fallback.length ? h("p", {}, "Then, in order:") : null, h("ul", {}, data.fallback.map(row)));
    } catch (error) { result.replaceChildren(errorBox(error)); }
  };
  const previewForm = h("form", { class: "filters", onsubmit: (event) => { event.preventDefault(); preview(); } },
    h("label", {}, "At (your local time; empty: now)", at), h("div", { class: "actions" }, h("button", { type: "submit" }, "Preview")));
  preview();
  return h("section", { class: "card", id: "routing" }, h("h2", {}, "Routing"),
    policy
      ? h("div", {}, h("p", { class: "muted" }, `In ${policy.time_zone}; when no rule holds, the inbound agent takes the call.`),
        h("ol", { class: "rules" }, describePolicy(policy, agentName).map((line) => h("li", {}, line))))
      : h("p", { class: "muted" }, "No routing policy: the inbound agent takes every call."),
    h("h3", {}, "What a call would do"), previewForm, result,
    writable ? h("details", {}, h("summary", {}, policy ? "Edit the policy" : "Add a policy"), status, editor) : null);
}

// ---------- buy ----------

async function buyPage() {
  if (!can("phone_numbers:write")) return show(h("h1", {}, "Buy a number"), h("p", { class: "notice" }, "You cannot buy numbers (that needs phone_numbers:write)."));
  const [rules, pricing] = await Promise.all([loadCountryRules(), api("GET", "/v1/phone-number-pricing").then((r) => r.data)]);
  const params = currentParams();
  // The server's providers, its default first. The pricing table holds the sandbox's and
  // Plivo's prices; Twilio prices its numbers itself, at search time.
  const providers = session.me.providers;
  const provider = params.get("provider") || providers[0];
  const priced = pricing.some((p) => p.telephony_provider_id === provider);
  const enabled = session.me.workspace.countries;
  const kyc = session.me.workspace.kyc_verified;
  const country = params.get("country") || enabled[0] || rules[0].country_iso;
  const offered = priced
    ? pricing.filter((p) => p.telephony_provider_id === provider && p.country_iso === country)
    : ["local", "mobile", "toll_free"].map((t) => ({ type: t, monthly_cost_usd: null }));
  const type = params.get("type") || (offered[0] || {}).type || "local";
  const areaCode = params.get("area_code") || "";
  const contains = params.get("contains") || "";
  const rule = rules.find((c) => c.country_iso === country);
  const explain = [];
  if (!enabled.includes(country)) explain.push(h("p", { class: "notice bad" }, `${rule ? rule.country_name : country} is not enabled for this workspace: a purchase there is refused. An operator enables it with switchboard workspace update --countries.`));
  if (rule && rule.requires_kyc) {
    explain.push(kyc
      ? h("p", { class: "notice good" }, `${rule.country_name} requires a KYC-verified workspace; this one is verified.`)
      : h("p", { class: "notice bad" }, `${rule.country_name} requires a KYC-verified workspace, and this one is not: a purchase there is refused until it is verified.`));
  }
  if (!offered.length) explain.push(h("p", { class: "notice" }, `${provider} has no numbers priced in ${country}.`));
  const form = h("form", { class: "filters card", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    go(`#/buy${query({ provider: data.get("provider"), country: data.get("country"), type: data.get("type"),
      area_code: data.get("area_code").trim(), contains: data.get("contains").trim(), search: "1" })}`);
  } },
    h("label", {}, "Provider", h("select", { name: "provider", onchange: () => go(`#/buy${query({ provider: form.provider.value, country: form.country.value })}`) },
      providers.map((p) => h("option", { value: p, selected: p === provider ? true : null }, p)))),
    h("label", {}, "Country", h("select", { name: "country", onchange: () => go(`#/buy${query({ provider, country: form.country.value })}`) }, rules.map((c) =>
      h("option", { value: c.country_iso, selected: c.country_iso === country ? true : null },
        `${c.country_name} (${c.country_iso})${enabled.includes(c.country_iso) ? "" : " — not enabled"}${c.requires_kyc ? " — KYC" : ""}`)))),
    h("label", {}, "Type", h("select", { name: "type" }, offered.map((p) =>
      h("option", { value: p.type, selected: p.type === type ? true : null },
        p.monthly_cost_usd === null ? `${typeLabel(p.type)} — priced by ${provider}` : `${typeLabel(p.type)} — ${money(p.monthly_cost_usd)}/month`)))),
    h("label", {}, "Area code", h("input", { name: "area_code", value: areaCode, inputmode: "numeric", pattern: "[0-9]{1,5}", maxlength: 5, placeholder: "e.g. 415" })),
    h("label", {}, "Digits anywhere", h("input", { name: "contains", value: contains, inputmode: "numeric", pattern: "[0-9]{1,10}", maxlength: 10, placeholder: "e.g. 2024" })),
    h("div", { class: "actions" }, h("button", { type: "submit", disabled: offered.length ? null : true }, "Search")),
  );
  let results = null;
  if (params.get("search") && offered.length) {
    try {
      const { data } = await api("GET", `/v1/organization-phone-numbers/plivo-numbers${query({ country_iso: country, type, provider, area_code: areaCode, contains })}`);
      results = data.objects.length
        ? h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Number"), h("th", {}, "Type"), h("th", { class: "num" }, "Monthly"), h("th", { class: "num" }, "Setup"), h("th", {}, "Capabilities"), h("th", {}, ""))),
          h("tbody", {}, data.objects.map((offer) => h("tr", {},
            h("td", {}, offer.number, h("span", { class: "national" }, national(offer.number))),
            h("td", {}, offer.type),
            h("td", { class: "num" }, money(offer.monthly_rental_rate)),
            h("td", { class: "num" }, money(offer.setup_rate)),
            h("td", {}, [offer.voice_enabled ? "voice" : null, offer.sms_enabled ? "sms" : null].filter(Boolean).join(", ")),
            h("td", {}, h("button", { type: "button", "data-number": offer.number, onclick: () => buy(offer, country, provider) }, "Buy")))))))
        : h("p", { class: "card muted" }, areaCode || contains ? "No numbers offered that match." : "No numbers offered for that country and type.");
    } catch (error) {
      results = errorBox(error);
    }
  }
  show(h("h1", {}, "Buy a number"), form, ...explain, results || h("p", { class: "muted" }, "Pick a provider, a country and a type, then search."));
}

/** 128 random bits as hex (crypto.randomUUID exists only on https and localhost). */
function randomKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function buy(offer, country, provider) {
  // One Idempotency-Key per purchase attempt: a double click or a retried request buys once.
  const attempt = randomKey();
  let bought = null;
  const confirmed = await confirmDialog({
    title: `Buy ${offer.number}?`,
    body: [h("p", {}, `${offer.number} from ${provider} costs ${money(offer.monthly_rental_rate)} a month and ${money(offer.setup_rate)} to set up.`)],
    confirmLabel: `Buy for ${money(offer.monthly_rental_rate)}/month`,
    onConfirm: async () => {
      bought = (await api("POST", "/v1/organization-phone-numbers/purchase", {
        body: { phoneNumber: offer.number, telephonyProviderId: provider, countryISO: country },
        headers: { "Idempotency-Key": attempt },
      })).data;
    },
  });
  if (confirmed && bought) {
    toast(`Bought ${offer.number}.`);
    go(`#/numbers/${bought.organizationPhoneNumber.id}`);
  }
}

// ---------- link a SIP trunk ----------

/** The API's own checks, run before sending, so the form says what is wrong next to it. */
function sipProblems(values) {
  const problems = [];
  if (!/^\+[1-9]\d{6,14}$/.test(values.phoneNumber)) problems.push("Phone number: E.164, a + then 7 to 15 digits (+14155550123).");
  if (!values.terminationUri) problems.push("Termination URI is required.");
  else if (/^sips?:/i.test(values.terminationUri)) problems.push("Termination URI: host[:port], without the sip: prefix.");
  else if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(values.terminationUri)) problems.push("Termination URI: host[:port], such as trunk.example.com:5060.");
  if (values.authMode === "userpass") {
    if (!values.sipTrunkUserName.trim()) problems.push("User name is required with user/password authentication.");
    if (!values.sipTrunkPassword.trim()) problems.push("Password is required with user/password authentication.");
  }
  return problems;
}

async function linkPage() {
  if (!can("phone_numbers:write")) return show(h("h1", {}, "Link a SIP trunk"), h("p", { class: "notice" }, "You cannot link numbers (that needs phone_numbers:write)."));
  const status = h("div", { "aria-live": "polite" });
  const user = h("input", { name: "sipTrunkUserName", autocomplete: "off" });
  const password = h("input", { name: "sipTrunkPassword", type: "password", autocomplete: "new-password" });
  const mode = h("select", { name: "authMode", onchange: () => {
    const ip = mode.value === "ip";
    user.disabled = ip; password.disabled = ip;
    if (ip) { user.value = ""; password.value = ""; }
  } }, h("option", { value: "userpass" }, "User name and password"), h("option", { value: "ip" }, "IP address (no credentials)"));
  const form = h("form", { class: "card", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const values = {
      phoneNumber: (data.get("phoneNumber") || "").trim(),
      terminationUri: (data.get("terminationUri") || "").trim(),
      authMode: mode.value,
      sipTrunkUserName: data.get("sipTrunkUserName") || "",
      sipTrunkPassword: data.get("sipTrunkPassword") || "",
      nickname: (data.get("nickname") || "").trim(),
    };
    const problems = sipProblems(values);
    if (problems.length) return status.replaceChildren(h("ul", { class: "notice bad", role: "alert" }, problems.map((p) => h("li", {}, p))));
    const body = { phoneNumber: values.phoneNumber, terminationUri: values.terminationUri, authMode: values.authMode };
    if (values.authMode === "userpass") Object.assign(body, { sipTrunkUserName: values.sipTrunkUserName, sipTrunkPassword: values.sipTrunkPassword });
    if (values.nickname) body.nickname = values.nickname;
    try {
      const linked = (await api("POST", "/v1/organization-phone-numbers/sip-trunks", { body })).data;
      toast(`Linked ${linked.phone_number}.`);
      go(`#/numbers/${linked.id}`);
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  } },
    h("div", { class: "form-grid" },
      h("label", {}, "Phone number (E.164)", h("input", { name: "phoneNumber", placeholder: "+14155550123", inputmode: "tel" })),
      h("label", {}, "Termination URI (host[:port])", h("input", { name: "terminationUri", placeholder: "trunk.example.com:5060" })),
      h("label", {}, "Authentication", mode),
      h("label", {}, "User name", user),
      h("label", {}, "Password", password),
      h("label", {}, "Nickname", h("input", { name: "nickname", maxlength: 255 }))),
    h("p", { class: "muted" }, `The number's country must be enabled for this workspace (${session.me.workspace.countries.join(", ") || "none yet"}), KYC countries need a verified workspace, and a number a provider here sells must be bought instead. The password is sealed before it is stored and never shown again.`),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Link number")),
    status,
  );
  show(h("h1", {}, "Link a SIP trunk number"), form);
}

// ---------- agents ----------

const DESTINATION_HINT = "sip:agent@sip.example.com, wss://bot.example.com/stream or tel:+14155550100";

async function agentsPage() {
  if (!can("agents:read")) return show(h("h1", {}, "Agents"), h("p", { class: "notice" }, "You cannot see agents (that needs agents:read)."));
  const agents = await agentsList();
  const writable = can("agents:write");
  const status = h("div", { "aria-live": "polite" });
  const name = h("input", { name: "name", required: true, maxlength: 255 });
  const destination = h("input", { name: "destination", maxlength: 512, placeholder: DESTINATION_HINT });
  const create = h("form", { class: "card filters", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/v1/agents", { body: { name: name.value.trim(), destination: destination.value.trim() || null } });
      toast("Agent created.");
      render();
    } catch (error) { status.replaceChildren(errorBox(error)); }
  } }, h("label", {}, "New agent's name", name), h("label", {}, "Destination (how calls reach it)", destination),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create agent")));
  const edit = async (agent) => {
    const newName = h("input", { value: agent.name, maxlength: 255, "aria-label": "New name" });
    const newDestination = h("input", { name: "edit-destination", value: agent.destination || "", maxlength: 512, placeholder: DESTINATION_HINT });
    const done = await confirmDialog({ title: `Edit ${agent.name}`,
      body: [h("label", {}, "Name", newName), h("label", {}, "Destination (empty: it cannot take calls)", newDestination)],
      confirmLabel: "Save",
      onConfirm: () => api("PATCH", `/v1/agents/${agent.id}`,
        { body: { name: newName.value.trim(), destination: newDestination.value.trim() || null } }) });
    if (done) { toast("Saved."); render(); }
  };
  const remove = async (agent) => {
    const [inbound, outbound] = await Promise.all(["agent_id", "outbound_agent_id"].map((filter) =>
      api("GET", `/v1/organization-phone-numbers${query({ [filter]: agent.id, limit: 100 })}`).then((r) => r.data)));
    const listed = (title, page) => page.total
      ? [h("p", {}, `${title} (${page.total}):`),
        h("ul", {}, page.items.map((n) => h("li", {}, `${n.phone_number}${n.nickname ? ` (${n.nickname})` : ""}`)),
          page.total > page.items.length ? h("li", {}, `and ${page.total - page.items.length} more`) : null)]
      : [];
    const done = await confirmDialog({ title: `Delete ${agent.name}?`, danger: true, confirmLabel: "Delete agent",
      body: inbound.total || outbound.total
        ? [h("p", {}, "These numbers are detached from it and route to no agent:"),
          ...listed("Inbound calls", inbound), ...listed("Outbound calls", outbound)]
        : [h("p", {}, "No number routes to it.")],
      onConfirm: () => api("DELETE", `/v1/agents/${agent.id}`) });
    if (done) { toast("Agent deleted."); render(); }
  };
  show(
    h("h1", {}, "Agents"),
    writable ? create : h("p", { class: "notice" }, "You can list agents but not change them (that needs agents:write)."),
    status,
    agents.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Destination"), h("th", { class: "hide-narrow" }, "Id"), h("th", {}, "Created"), h("th", {}, ""))),
      h("tbody", {}, agents.map((agent) => h("tr", {},
        h("td", {}, h("a", { href: `#/numbers${query({ agent_id: agent.id })}` }, agent.name)),
        h("td", {}, agent.destination || h("span", { class: "muted" }, "none: cannot take calls")),
        h("td", { class: "hide-narrow" }, agent.id), h("td", {}, when(agent.created_at)),
        h("td", {}, writable ? h("span", { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: () => edit(agent) }, "Edit"),
          h("button", { type: "button", class: "danger", onclick: () => remove(agent) }, "Delete")) : null)))))) 
      : h("p", { class: "card muted" }, "No agents yet."),
  );
}

// ---------- calls ----------

const OUTCOMES = ["completed", "no_answer", "busy", "failed", "unroutable", "rejected"];

async function callsPage() {
  if (!can("calls:read")) return show(h("h1", {}, "Calls"), h("p", { class: "notice" }, "You cannot see calls (that needs calls:read)."));
  const params = currentParams();
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const outcome = params.get("outcome") || "";
  const limit = 20;
  const [list, agents] = await Promise.all([
    api("GET", `/v1/calls${query({ outcome, page, limit })}`),
    can("agents:read") ? agentsList() : Promise.resolve([]),
  ]);
  const agentName = (id) => (agents.find((a) => a.id === id) || {}).name || id;
  const form = h("form", { class: "filters card", onsubmit: (event) => {
    event.preventDefault();
    go(`#/calls${query({ outcome: new FormData(form).get("outcome") })}`);
  } },
    h("label", {}, "Outcome", h("select", { name: "outcome" }, h("option", { value: "" }, "Any"),
      ...OUTCOMES.map((o) => h("option", { value: o, selected: o === outcome ? true : null }, o.replace("_", " "))))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply"), h("a", { href: "#/calls" }, "Clear")));
  const { items, total } = list.data;
  const steps = (call) => h("details", {}, h("summary", {}, `${call.attempts.length} step${call.attempts.length === 1 ? "" : "s"}`),
    h("p", { class: "muted" }, call.reason),
    call.attempts.length ? h("ol", {}, call.attempts.map((a) => h("li", {},
      a.agent_id ? `${agentName(a.agent_id)} → ` : "", a.destination, ": ", a.outcome ? a.outcome.replace("_", " ") : "ringing"))) : null);
  const rows = items.map((call) => h("tr", {},
    h("td", {}, when(call.started_at)),
    h("td", {}, h("a", { href: `#/numbers/${call.phone_number_id}` }, call.phone_number)),
    h("td", {}, call.caller),
    h("td", {}, h("span", { class: `badge ${call.outcome || "pending"}` }, call.outcome ? call.outcome.replace("_", " ") : "in progress")),
    h("td", { class: "num" }, call.duration_secs === null ? "—" : `${call.duration_secs} s`),
    h("td", {}, steps(call))));
  const pages = Math.max(1, Math.ceil(total / limit));
  const pageLink = (p, label) => h("a", { href: `#/calls${query({ outcome, page: p })}` }, label);
  show(
    h("h1", {}, "Calls"),
    form,
    h("p", { class: "total", id: "calls-total" }, `${total} call${total === 1 ? "" : "s"}`),
    items.length
      ? h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Started"), h("th", {}, "Number"), h("th", {}, "Caller"), h("th", {}, "Outcome"),
          h("th", { class: "num" }, "Duration"), h("th", {}, "Steps"))),
        h("tbody", {}, rows)))
      : h("p", { class: "card muted" }, "No calls yet. Point a carrier number's voice webhook at this server (README: Route your first call)."),
    h("nav", { class: "pager", "aria-label": "Pages" },
      page > 1 ? pageLink(page - 1, "← Previous") : null,
      h("span", {}, `Page ${Math.min(page, pages)} of ${pages}`),
      page < pages ? pageLink(page + 1, "Next →") : null),
  );
}

// ---------- API keys ----------

const SCOPES = ["phone_numbers:read", "phone_numbers:write", "agents:read", "agents:write", "api_keys:manage", "webhooks:manage", "calls:read"];

/** A secret shown once, with a copy button. */
function secretBox(message, secretText) {
  const secret = h("p", { class: "secret", id: "new-secret" }, secretText);
  return h("div", { class: "notice good", role: "alert" },
    h("p", {}, message), secret,
    h("button", { type: "button", class: "secondary", onclick: async () => {
      try { await navigator.clipboard.writeText(secretText); toast("Copied."); }
      catch { toast("Copy failed: select it and copy it by hand."); }
    } }, "Copy"));
}

async function keysPage(created) {
  if (!can("api_keys:manage")) return show(h("h1", {}, "API keys"), h("p", { class: "notice" }, "You cannot manage keys (that needs api_keys:manage)."));
  const keys = (await api("GET", "/v1/api-keys")).data;
  const status = h("div", { "aria-live": "polite" });
  const own = caller().scopes;
  const ownKey = session.me.key ? session.me.key.id : null;
  const name = h("input", { name: "name", required: true, maxlength: 255 });
  const boxes = SCOPES.filter((s) => own.includes(s)).map((s) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "scope", value: s, checked: true }), s));
  const rotation = h("select", { name: "rotation" },
    h("option", { value: "" }, "Leave the other keys alone"),
    h("option", { value: "later" }, "Rotate: other keys expire in 24 hours"),
    h("option", { value: "now" }, "Rotate: other keys stop now"));
  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    const scopes = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (!scopes.length) return status.replaceChildren(h("p", { class: "notice bad" }, "Choose at least one scope."));
    const body = { name: name.value.trim(), scopes };
    if (rotation.value) body.expire_now = rotation.value === "now";
    try {
      const made = (await api("POST", "/v1/api-keys", { body })).data;
      await keysPage(made);
    } catch (error) { status.replaceChildren(errorBox(error)); }
  } },
    h("h2", {}, "New key"),
    h("div", { class: "form-grid" }, h("label", {}, "Name", name), h("label", {}, "Other keys", rotation)),
    h("fieldset", {}, h("legend", {}, "Scopes"), boxes),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create key")), status);
  const revoke = async (key) => {
    const done = await confirmDialog({ title: `Revoke ${key.name}?`, danger: true, confirmLabel: "Revoke key",
      body: [h("p", {}, `Requests with this key are refused from now on${key.id === ownKey ? ", including this console's: you will be signed out" : ""}.`)],
      onConfirm: () => api("DELETE", `/v1/api-keys/${key.id}`) });
    if (done) {
      if (key.id === ownKey) return forget("You revoked the key you were signed in with.");
      toast("Key revoked."); keysPage();
    }
  };
  show(
    h("h1", {}, "API keys"),
    created ? secretBox(`Key "${created.name}" created. Copy it now: it is shown only once.`, created.api_key) : null,
    form,
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Scopes"), h("th", { class: "hide-narrow" }, "Last used"), h("th", { class: "hide-narrow" }, "Expires"), h("th", {}, ""))),
      h("tbody", {}, keys.map((key) => h("tr", {},
        h("td", {}, key.name, key.id === ownKey ? h("span", { class: "national" }, "this console's key") : null),
        h("td", {}, key.scopes.join(", ")),
        h("td", { class: "hide-narrow" }, when(key.last_used_at)),
        h("td", { class: "hide-narrow" }, key.expires_at ? when(key.expires_at) : "never"),
        h("td", {}, h("button", { type: "button", class: "danger", onclick: () => revoke(key) }, "Revoke"))))))),
  );
}

// ---------- people ----------

const ROLES = [
  ["viewer", "Viewer: reads numbers, agents, calls and reports"],
  ["operator", "Operator: also routes, buys and releases numbers, manages agents"],
  ["admin", "Admin: also API keys, webhooks and people"],
];

async function usersPage(invited) {
  if (!can("users:manage")) return show(h("h1", {}, "People"), h("p", { class: "notice" }, "Managing people needs the admin role (users:manage)."));
  const people = (await api("GET", "/v1/users?limit=100")).data.items;
  const me = session.me.user ? session.me.user.id : null;
  const status = h("div", { "aria-live": "polite" });
  const email = h("input", { name: "email", type: "email", required: true, maxlength: 254, spellcheck: "false" });
  const role = h("select", { name: "role" }, ROLES.map(([value, label]) => h("option", { value, selected: value === "viewer" }, label)));
  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    try {
      const made = (await api("POST", "/v1/users", { body: { email: email.value.trim(), role: role.value } })).data;
      await usersPage(made);
    } catch (error) { status.replaceChildren(errorBox(error)); }
  } },
    h("h2", {}, "Invite someone"),
    h("div", { class: "form-grid" }, h("label", {}, "Email address", email), h("label", {}, "Role", role)),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Invite")), status);
  const changeRole = async (person, select) => {
    try {
      await api("PATCH", `/v1/users/${person.id}`, { body: { role: select.value } });
      toast(`${person.email} is now ${select.value}.`);
    } catch (error) { select.value = person.role; toast(error.message); }
  };
  const endSessions = async (person) => {
    try {
      const ended = (await api("POST", `/v1/users/${person.id}/sign-out`)).data.ended;
      toast(`${person.email}: ${ended} session${ended === 1 ? "" : "s"} ended.`);
    } catch (error) { toast(error.message); }
  };
  const remove = async (person) => {
    const done = await confirmDialog({ title: `Remove ${person.email}?`, danger: true, confirmLabel: "Remove",
      body: [h("p", {}, "They are signed out everywhere at once and cannot sign in again. History keeps their name.")],
      onConfirm: () => api("DELETE", `/v1/users/${person.id}`) });
    if (done) { toast("Removed."); usersPage(); }
  };
  show(
    h("h1", {}, "People"),
    invited ? secretBox(`${invited.email} is invited. Send them this link: it sets their password once, until ${when(invited.password_setup_expires_at)}.`, invited.password_setup_link) : null,
    form,
    h("div", { class: "table-wrap" }, h("table", { id: "people" },
      h("thead", {}, h("tr", {}, h("th", {}, "Email"), h("th", {}, "Role"), h("th", { class: "hide-narrow" }, "Password"), h("th", {}, ""))),
      h("tbody", {}, people.map((person) => {
        const select = h("select", { "aria-label": `Role of ${person.email}`, disabled: person.id === me, onchange: () => changeRole(person, select) },
          ROLES.map(([value]) => h("option", { value, selected: value === person.role }, value)));
        return h("tr", {},
          h("td", {}, person.email, person.id === me ? h("span", { class: "national" }, "you") : null),
          h("td", {}, select),
          h("td", { class: "hide-narrow" }, person.has_password ? "set" : "invited"),
          h("td", {},
            h("button", { type: "button", class: "secondary", onclick: () => endSessions(person) }, "Sign out everywhere"), " ",
            person.id === me ? null : h("button", { type: "button", class: "danger", onclick: () => remove(person) }, "Remove")));
      })))),
  );
}

// ---------- webhooks ----------

const EVENT_TYPES = ["phone_number.purchased", "phone_number.linked", "phone_number.imported", "phone_number.updated",
  "phone_number.released", "agent.created", "agent.renamed", "agent.updated", "agent.deleted", "api_key.created", "api_key.revoked",
  "api_key.expiry_set", "webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.disabled",
  "webhook_endpoint.enabled", "webhook_endpoint.secret_rotated", "webhook_endpoint.deleted", "workspace.updated",
  "user.created", "user.updated", "user.password_set", "user.removed", "user.signed_in", "user.sign_in_failed",
  "user.session_ended", "call.started", "call.completed"];

function endpointState(endpoint) {
  if (endpoint.enabled) return h("span", { class: "badge ok" }, "enabled");
  return h("span", { class: "badge warning", title: endpoint.disabled_at ? `since ${when(endpoint.disabled_at)}` : null },
    endpoint.disabled_reason === "failing" ? "disabled: failing for 5 days" : "disabled");
}

/** What one attempt came to, in a few words. */
function attemptSummary(attempt) {
  if (!attempt) return "not attempted yet";
  const outcome = attempt.error || `answered ${attempt.status_code}`;
  return `${outcome} (${attempt.duration_ms} ms, ${when(attempt.at)})`;
}

function webhooksUnavailable() {
  show(h("h1", {}, "Webhooks"), h("p", { class: "notice" }, "You cannot manage webhooks (that needs webhooks:manage)."));
}

/** A button's action: runs `work`, shows what it says, and redraws; an error goes in `status`. */
const buttonAction = (status, redraw) => (work) => async () => {
  try { toast(await work()); redraw(); } catch (error) { status.replaceChildren(errorBox(error)); }
};

/** Sends a signed ping and says how it went. */
async function pingEndpoint(endpoint) {
  const ping = (await api("POST", `/v1/webhook-endpoints/${endpoint.id}/test`)).data;
  const attempt = ping.attempts[ping.attempts.length - 1];
  return ping.state === "delivered" ? `Ping delivered: ${attemptSummary(attempt)}.` : `Ping failed: ${attemptSummary(attempt)}.`;
}

async function webhooksPage(shown) {
  if (!can("webhooks:manage")) return webhooksUnavailable();
  const endpoints = (await api("GET", "/v1/webhook-endpoints?limit=100")).data.items;
  const status = h("div", { "aria-live": "polite" });
  const url = h("input", { name: "url", type: "url", required: true, maxlength: 2048, placeholder: "https://example.com/switchboard-events" });
  const description = h("input", { name: "description", maxlength: 255 });
  const boxes = EVENT_TYPES.map((t) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "event_type", value: t }), t));
  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    const types = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    const body = { url: url.value.trim(), event_types: types };
    if (description.value.trim()) body.description = description.value.trim();
    try {
      const made = (await api("POST", "/v1/webhook-endpoints", { body })).data;
      await webhooksPage(secretBox(`Endpoint created. Its signing secret is shown only once: give it to your Standard Webhooks library.`, made.secret));
    } catch (error) { status.replaceChildren(errorBox(error)); }
  } },
    h("h2", {}, "New endpoint"),
    h("div", { class: "form-grid" }, h("label", {}, "URL (https)", url), h("label", {}, "Description", description)),
    h("fieldset", {}, h("legend", {}, "Events (none ticked: every change; calls only when ticked)"), boxes),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create endpoint")), status);
  const act = buttonAction(status, () => webhooksPage());
  const toggle = async (e) => {
    await api("PATCH", `/v1/webhook-endpoints/${e.id}`, { body: { enabled: !e.enabled } });
    return e.enabled ? "Endpoint disabled." : "Endpoint enabled: replay what it missed from its page.";
  };
  const rotate = async (endpoint) => {
    let rotated = null;
    const done = await confirmDialog({ title: `Rotate the secret of ${endpoint.url}?`, confirmLabel: "Rotate secret",
      body: [h("p", {}, "A new secret signs every delivery from now on; the old one keeps signing too for 24 hours, so the receiver can switch over.")],
      onConfirm: async () => { rotated = (await api("POST", `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`)).data; } });
    if (done) webhooksPage(secretBox("New signing secret, shown only once:", rotated.secret));
  };
  const remove = async (endpoint) => {
    const done = await confirmDialog({ title: `Delete ${endpoint.url}?`, danger: true, confirmLabel: "Delete endpoint",
      body: [h("p", {}, "It receives nothing more, and its record of deliveries goes with it.")],
      onConfirm: () => api("DELETE", `/v1/webhook-endpoints/${endpoint.id}`) });
    if (done) { toast("Endpoint deleted."); webhooksPage(); }
  };
  show(
    h("h1", {}, "Webhooks"),
    h("p", { class: "muted" }, "Every change in the workspace is posted, signed, to these endpoints; failed deliveries are retried for about 28 hours."),
    shown || null,
    form,
    endpoints.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "URL"), h("th", {}, "Events"), h("th", {}, "State"), h("th", {}, ""))),
      h("tbody", {}, endpoints.map((e) => h("tr", {},
        h("td", {}, h("a", { href: `#/webhooks/${e.id}` }, e.url), e.description ? h("span", { class: "national" }, e.description) : null),
        h("td", {}, e.event_types.length ? e.event_types.join(", ") : "every change"),
        h("td", {}, endpointState(e)),
        h("td", {}, h("span", { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: act(() => pingEndpoint(e)) }, "Send test"),
          h("button", { type: "button", class: "secondary", onclick: act(() => toggle(e)) }, e.enabled ? "Disable" : "Enable"),
          h("button", { type: "button", class: "secondary", onclick: () => rotate(e) }, "Rotate secret"),
          h("button", { type: "button", class: "danger", onclick: () => remove(e) }, "Delete")))))))) 
      : h("p", { class: "card muted" }, "No endpoints yet."),
  );
}

async function webhookPage(id) {
  if (!can("webhooks:manage")) return webhooksUnavailable();
  const [endpoint, deliveries] = await Promise.all([
    api("GET", `/v1/webhook-endpoints/${id}`).then((r) => r.data),
    api("GET", `/v1/webhook-endpoints/${id}/deliveries?limit=50`).then((r) => r.data),
  ]);
  const status = h("div", { "aria-live": "polite" });
  const run = buttonAction(status, () => webhookPage(id));
  const replay = run(async () => {
    const queued = (await api("POST", `/v1/webhook-endpoints/${id}/replay`)).data.queued;
    return queued ? `Queued ${queued} missed event${queued === 1 ? "" : "s"}.` : "Nothing was missed.";
  });
  show(
    h("p", {}, h("a", { href: "#/webhooks" }, "← Webhooks")),
    h("h1", {}, endpoint.url),
    h("p", {}, endpointState(endpoint), " ", endpoint.event_types.length ? endpoint.event_types.join(", ") : "every event"),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: run(() => pingEndpoint(endpoint)) }, "Send test"),
      h("button", { type: "button", class: "secondary", onclick: replay, title: "Queue every event since the endpoint was created that it has no delivery of (what it missed while disabled)" }, "Replay missed events"),
      h("button", { type: "button", class: "secondary", onclick: () => webhookPage(id) }, "Refresh")),
    status,
    h("h2", {}, `Deliveries (${deliveries.total})`),
    deliveries.items.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Event"), h("th", {}, "State"), h("th", { class: "hide-narrow" }, "webhook-id"), h("th", {}, "Last attempt"), h("th", { class: "hide-narrow" }, "Next attempt"), h("th", {}, ""))),
      h("tbody", {}, deliveries.items.map((d) => h("tr", {},
        h("td", {}, d.event_type, h("span", { class: "national" }, when(d.created_at))),
        h("td", {}, h("span", { class: `badge ${d.state === "delivered" ? "ok" : d.state === "failed" ? "error" : "warning"}` }, d.state),
          d.attempt_count > 1 ? h("span", { class: "national" }, `${d.attempt_count} attempts`) : null),
        h("td", { class: "hide-narrow" }, d.webhook_id),
        h("td", {}, attemptSummary(d.attempts[d.attempts.length - 1])),
        h("td", { class: "hide-narrow" }, d.next_attempt_at ? when(d.next_attempt_at) : "—"),
        h("td", {}, d.state === "delivered" ? null : h("button", { type: "button", class: "secondary",
          onclick: run(async () => { await api("POST", `/v1/webhook-endpoints/${id}/deliveries/${d.id}/retry`); return "Queued again."; }) }, "Retry now")))))))
      : h("p", { class: "card muted" }, "Nothing delivered yet."),
  );
}

// ---------- reports ----------

/** A horizontal bar chart (SVG) of [label, value] pairs, with the values written beside the bars. */
function barChart(title, rows, format) {
  const width = 560, bar = 22, gap = 8, labelWidth = 170;
  const max = Math.max(...rows.map(([, v]) => v), 0.01);
  const height = rows.length * (bar + gap) + gap;
  return h("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": title },
    h("title", {}, title),
    rows.map(([label, value], i) => {
      const y = gap + i * (bar + gap);
      const w = Math.max(2, ((width - labelWidth - 90) * value) / max);
      return h("g", {},
        h("text", { x: 0, y: y + bar * 0.7 }, label.length > 24 ? `${label.slice(0, 23)}…` : label),
        h("rect", { x: labelWidth, y, width: w, height: bar, rx: 3 }),
        h("text", { x: labelWidth + w + 6, y: y + bar * 0.7 }, format(value)));
    }));
}

async function reportsPage() {
  const [byCountry, byAgent, compliance, events] = await Promise.all([
    api("GET", "/v1/organization-phone-numbers/summary?group_by=country_code"),
    api("GET", "/v1/organization-phone-numbers/summary?group_by=inbound_agent_id"),
    api("GET", "/v1/organization-phone-numbers/compliance"),
    api("GET", "/v1/events?limit=20"),
  ]);
  const costRows = (groups, label) => groups.map((g) => [label(g), Number(g.monthly_cost_usd)]);
  const costTable = (groups, label, heading) => h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, heading), h("th", { class: "num" }, "Numbers"), h("th", { class: "num" }, "Monthly"))),
    h("tbody", {}, groups.map((g) => h("tr", {}, h("td", {}, label(g)), h("td", { class: "num" }, g.count), h("td", { class: "num" }, money(g.monthly_cost_usd))))));
  const countryLabel = (g) => g.country_code || "none";
  const agentLabel = (g) => g.inbound_agent_name || (g.inbound_agent_id ? g.inbound_agent_id : "No agent");
  const findings = compliance.data.findings;
  show(
    h("h1", {}, "Reports"),
    h("p", { class: "total" }, `${byCountry.data.count} numbers · ${money(byCountry.data.monthly_cost_usd)} a month`),
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h2", {}, "Monthly cost by country"),
        byCountry.data.groups.length ? [barChart("Monthly cost by country", costRows(byCountry.data.groups, countryLabel), money), costTable(byCountry.data.groups, countryLabel, "Country")] : h("p", { class: "muted" }, "No numbers yet.")),
      h("section", { class: "card" }, h("h2", {}, "Monthly cost by inbound agent"),
        byAgent.data.groups.length ? [barChart("Monthly cost by inbound agent", costRows(byAgent.data.groups, agentLabel), money), costTable(byAgent.data.groups, agentLabel, "Agent")] : h("p", { class: "muted" }, "No numbers yet."))),
    h("section", { class: "card" }, h("h2", {}, `Compliance: ${findings.length} finding${findings.length === 1 ? "" : "s"} in ${compliance.data.numbers_reviewed} numbers`),
      findings.length ? h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Severity"), h("th", {}, "Number"), h("th", {}, "Finding"))),
        h("tbody", {}, findings.map((f) => h("tr", {},
          h("td", {}, h("span", { class: `badge ${f.severity}` }, f.severity)),
          h("td", {}, h("a", { href: `#/numbers/${f.phone_number_id}` }, f.phone_number)),
          h("td", {}, f.message || f.code))))))
        : h("p", { class: "muted" }, "Nothing to fix.")),
    h("section", { class: "card" }, h("h2", {}, "Recent changes"),
      events.data.items.length ? h("ol", { class: "timeline" }, events.data.items.map((e) => h("li", {},
        h("strong", {}, e.type), " ", e.phone_number ? h("span", {}, e.phone_number, " ") : null,
        h("span", { class: "muted" }, `${when(e.at)} by ${actorLabel(e)}`))))
        : h("p", { class: "muted" }, "No changes yet.")),
  );
}

// ---------- start ----------

window.addEventListener("hashchange", render);

(async function start() {
  const key = sessionStorage.getItem(KEY_SLOT);
  if (key) {
    try {
      session = { key, me: (await api("GET", "/v1/me", { key })).data };
    } catch (error) {
      sessionStorage.removeItem(KEY_SLOT);
      return keySignInPage(error.status === 401 ? "That key no longer works. Sign in again." : error.message);
    }
  } else if (!location.hash.startsWith("#set-password=")) {
    // A person signed in earlier in this browser still has their session cookie.
    try {
      session = { me: (await api("GET", "/v1/me", { person: true })).data };
    } catch (error) {
      if (error.status !== 401) return signInPage(error.message);
    }
  }
  render();
})();
