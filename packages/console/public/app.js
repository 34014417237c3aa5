// @ts-check
/**
 * The console's entry point: sign-in, the shared session (cameras, concepts, the connection), the views and
 * the hash routes between them, reconnection.
 *
 * @typedef {import('../../contracts/src/protocol.ts').ClientRole} ClientRole
 * @typedef {import('../../contracts/src/protocol.ts').WireConcept} WireConcept
 * @typedef {import('../../contracts/src/protocol.ts').WireCameraStats} WireCameraStats
 * @typedef {import('../../contracts/src/protocol.ts').StatusResult} StatusResult
 * @typedef {import('../../contracts/src/protocol.ts').ConceptsListResult} ConceptsListResult
 * @typedef {import('../../contracts/src/protocol.ts').SceneChangeEvent} SceneChangeEvent
 * @typedef {import('../../contracts/src/protocol.ts').ReminderFiredEvent} ReminderFiredEvent
 * @typedef {typeof import('./dom.js').PALETTE[number]} Colour
 *
 * @typedef {object} Session  what every view shares
 * @property {FamiliarClient} client
 * @property {ClientRole} role
 * @property {string | null} member  the household member the token belongs to, if any
 * @property {(name: string) => boolean} isMember  whether a name is the signed-in member's
 * @property {WireCameraStats[]} cameras
 * @property {WireConcept[]} concepts
 * @property {{ configured: boolean, model: string | null }} lvlm
 * @property {(id: string) => WireConcept | undefined} conceptById
 * @property {(id: string) => Colour} colourOf  a concept's colour in the live view, stable while the household stays the same
 * @property {() => Promise<void>} refreshConcepts
 *
 * @typedef {object} View
 * @property {() => void} show
 * @property {() => void} hide
 * @property {(what: 'cameras' | 'concepts') => void} update
 * @property {() => void} reset
 * @property {(e: SceneChangeEvent) => void} [scene]
 * @property {(e: ReminderFiredEvent) => void} [reminder]
 */
import { FamiliarClient, ProtocolError, quietly, sendsTokenInClear, serviceUrl } from './client.js';
import { PALETTE, UNKNOWN_COLOUR, byId, errorMessage, soon, toast } from './dom.js';
import { createAsk } from './ask.js';
import { createHousehold } from './household.js';
import { createLive } from './live.js';
import { createMemory } from './memory.js';

const TOKEN_KEY = 'familiar.token';
const STATUS_EVERY_MS = 3000;
const ROUTES = ['live', 'household', 'ask', 'memory'];
const RECONNECT_MAX_MS = 15_000;

/** @type {Session} */
const session = {
  client: new FamiliarClient(serviceUrl()),
  role: 'viewer',
  member: null,
  isMember: (name) => session.member !== null && session.member.trim().toLowerCase() === name.trim().toLowerCase(),
  cameras: [],
  concepts: [],
  lvlm: { configured: false, model: null },
  conceptById: (id) => session.concepts.find((c) => c.id === id),
  colourOf: (id) => colours.get(id) ?? UNKNOWN_COLOUR,
  async refreshConcepts() {
    /** @type {ConceptsListResult} */
    const res = await session.client.request({ type: 'concepts/list' });
    setConcepts(res.concepts);
    for (const v of Object.values(views)) v.update('concepts');
  },
};

/** @type {Map<string, Colour>} concept id → its live-view colour; rebuilt with the concept list, read per box. */
const colours = new Map();

/** @param {WireConcept[]} concepts */
function setConcepts(concepts) {
  session.concepts = concepts;
  // Colours follow enrolment order, so the first eight concepts always get eight different colours.
  const order = [...concepts].sort((a, b) => a.created_at - b.created_at || a.id.localeCompare(b.id));
  colours.clear();
  order.forEach((c, i) => colours.set(c.id, /** @type {Colour} */ (PALETTE[i % PALETTE.length])));
}

/** @type {Record<string, View>} */
const views = {
  live: createLive(session),
  household: createHousehold(session),
  ask: createAsk(session),
  memory: createMemory(session),
};

/** @type {string | null} */
let current = null;
/** @type {ReturnType<typeof setInterval> | null} */
let statusTimer = null;
/** @type {ReturnType<typeof setTimeout> | null} */
let reconnectTimer = null;
let signedIn = false;

// ------------------------------------------------------------------ routes

function route() {
  const name = location.hash.slice(1);
  return ROUTES.includes(name) ? name : 'live';
}

/** @param {boolean} moveFocus */
function showRoute(moveFocus) {
  if (!signedIn) return;
  const next = route();
  for (const name of ROUTES) {
    const on = name === next;
    byId(`view-${name}`).hidden = !on;
    const link = document.querySelector(`#nav a[href="#${name}"]`);
    if (on) link?.setAttribute('aria-current', 'page');
    else link?.removeAttribute('aria-current');
  }
  if (current !== next) {
    if (current) views[current]?.hide();
    views[next]?.show();
    current = next;
  }
  // Screen-reader and keyboard users land on the new view's heading, as after a page load.
  if (moveFocus) /** @type {HTMLElement | null} */ (byId(`view-${next}`).querySelector('h1'))?.focus();
}

window.addEventListener('hashchange', () => {
  // Other fragments (the skip link's #main) are not routes: the view stays.
  if (ROUTES.includes(location.hash.slice(1))) showRoute(true);
});

// ------------------------------------------------------------------ session

async function refreshStatus() {
  if (document.hidden || !session.client.connected) return;
  try {
    /** @type {StatusResult} */
    const s = await session.client.request({ type: 'status' });
    session.cameras = s.cameras;
    session.lvlm = s.lvlm;
    for (const v of Object.values(views)) v.update('cameras');
  } catch (err) {
    if (!quietly(err)) toast(`Status failed: ${errorMessage(err)}`, 'error');
  }
}

const conceptsRefresh = soon(() => void session.refreshConcepts().catch(() => {}), 1000);

/** Everything a fresh connection needs: the household, the cameras, scene events. */
async function load() {
  await Promise.all([
    refreshStatus(),
    session.refreshConcepts(),
    session.client.subscribeScene((e) => {
      if (e.kind === 'reminder') {
        // Announced wherever the user is (the toasts are a live region); the Memory view keeps a list.
        toast(e.text, 'reminder');
        for (const v of Object.values(views)) v.reminder?.(e);
        return;
      }
      if (e.kind !== 'scene') return;
      // Someone enrolled on another device: learn their name and colour.
      if (e.concept_id && !session.conceptById(e.concept_id)) conceptsRefresh.schedule();
      for (const v of Object.values(views)) v.scene?.(e);
    }),
  ]);
}

/** @param {string} text */
function setConnection(text) {
  byId('conn-state').textContent = text;
}

/** @param {ClientRole} role */
function enter(role) {
  signedIn = true;
  session.role = role;
  session.member = session.client.member;
  document.body.dataset.role = role;
  byId('role-badge').textContent = role === 'control' ? 'Control' : 'Viewer';
  // Viewers do not get the controls at all (the server would refuse them anyway).
  for (const el of document.querySelectorAll('.control-only')) /** @type {HTMLElement} */ (el).hidden = role !== 'control';
  byId('view-login').hidden = true;
  byId('nav').hidden = false;
  byId('session').hidden = false;
  setConnection('Connected');
  showRoute(false);
  statusTimer ??= setInterval(() => void refreshStatus(), STATUS_EVERY_MS);
}

/**
 * @param {string} [message] shown on the sign-in form
 * @param {boolean} [forgetToken] false: keep a saved token (Familiar was only unreachable)
 */
function leave(message = '', forgetToken = true) {
  signedIn = false;
  session.client.close();
  if (statusTimer) clearInterval(statusTimer);
  if (reconnectTimer) clearTimeout(reconnectTimer);
  statusTimer = reconnectTimer = null;
  if (current) views[current]?.hide();
  current = null;
  for (const v of Object.values(views)) v.reset();
  session.cameras = [];
  setConcepts([]);
  if (forgetToken) {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
  }
  for (const name of ROUTES) byId(`view-${name}`).hidden = true;
  byId('nav').hidden = true;
  byId('session').hidden = true;
  byId('view-login').hidden = false;
  byId('login-error').textContent = message;
  delete document.body.dataset.role;
  byId('token').focus();
}

/**
 * @param {string} token
 * @returns {Promise<ClientRole>}
 */
async function connect(token) {
  const role = await session.client.connect(token);
  session.client.onclose = (ev) => scheduleReconnect(token, ev.code);
  return role;
}

/**
 * @param {string} token
 * @param {number} code close code
 * @param {number} [attempt]
 */
function scheduleReconnect(token, code, attempt = 0) {
  if (!signedIn) return;
  const delay = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** attempt);
  setConnection(code === 1001 ? 'Familiar is restarting… reconnecting' : 'Connection lost… reconnecting');
  reconnectTimer = setTimeout(async () => {
    try {
      enter(await connect(token));
      await load();
      toast('Reconnected.');
    } catch (err) {
      if (err instanceof ProtocolError && err.code === 'AUTH_INVALID') leave(`Signed out: ${err.message}`);
      else scheduleReconnect(token, code, attempt + 1);
    }
  }, delay);
}

byId('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ (byId('token'));
  const remember = /** @type {HTMLInputElement} */ (byId('remember')).checked;
  const button = /** @type {HTMLButtonElement} */ (byId('login-submit'));
  const token = input.value.trim();
  if (!token) return;
  if (inClear && !(/** @type {HTMLInputElement} */ (byId('insecure-ack')).checked)) {
    byId('login-error').textContent = 'Not signed in: the token would be sent unencrypted; tick the box to do it anyway, or use https://.';
    return;
  }
  button.disabled = true;
  byId('login-error').textContent = '';
  let role;
  try {
    role = await connect(token);
  } catch (err) {
    byId('login-error').textContent = `Not signed in: ${errorMessage(err)}.`;
    input.focus();
    return;
  } finally {
    button.disabled = false;
  }
  (remember ? localStorage : sessionStorage).setItem(TOKEN_KEY, token);
  input.value = '';
  enter(role);
  start();
});

/** Loads what the views show; a failure here is reported, the session stays. */
function start() {
  load().catch((err) => toast(`Could not load everything: ${errorMessage(err)}`, 'error'));
}

byId('logout').addEventListener('click', () => leave());

document.addEventListener('visibilitychange', () => {
  if (!document.hidden && signedIn) void refreshStatus();
});

// Plain ws:// to another machine: the token would cross the network in clear text. The sign-in form says so
// and asks before sending it; a saved token is then never sent without that.
const inClear = sendsTokenInClear(serviceUrl());
byId('insecure').hidden = !inClear;

// A token kept from earlier (this tab, or "remember on this device") signs in without asking.
const saved = sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
if (saved && !inClear) {
  connect(saved).then(
    (role) => {
      enter(role);
      start();
    },
    (err) => {
      if (err instanceof ProtocolError && err.code === 'AUTH_INVALID') leave('Your saved token was refused; sign in again.');
      else leave(`Cannot reach Familiar (${errorMessage(err)}); sign in to try again.`, false);
    },
  );
}
