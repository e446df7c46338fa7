// The only module that talks to Tauri. Every command has a typed wrapper;
// every failure is rethrown as an ApiError `{code, message}`.
import { invoke } from '@tauri-apps/api/core';
import { ERROR_TITLES, REASON_HINTS } from './errors';
import type {
  ApiError,
  AppInfo,
  AppInput,
  Connection,
  ConnectionDetail,
  ConnectFinished,
  ConnectStart,
  DataHealth,
  DeviceStart,
  InitialState,
  Discovery,
  ErrorCode,
  ErrorReason,
  Notice,
  Preset,
  PresetId,
  ProviderApp,
  Recovered,
  RevokeResult,
  Settings,
  UiEvent,
} from './types';

/** Every error code, at run time: the keys of `ERROR_TITLES`, which the compiler holds to
 * exactly the generated `ErrorCode` union (one place: Rust's `ErrorCode`). */
export const ERROR_CODES = Object.keys(ERROR_TITLES) as readonly ErrorCode[];

/** Turns whatever a rejected invoke produced into an ApiError. */
export function normaliseError(e: unknown): ApiError {
  if (typeof e === 'object' && e !== null && 'code' in e && 'message' in e) {
    const { code, message, reason } = e as { code: unknown; message: unknown; reason?: unknown };
    if (typeof code === 'string' && typeof message === 'string') {
      const known = (ERROR_CODES as readonly string[]).includes(code);
      const scope = (e as { scope?: unknown }).scope;
      const out: ApiError = { code: known ? (code as ErrorCode) : 'internal', message };
      if (typeof scope === 'string' && scope) out.scope = scope;
      if (typeof reason === 'string' && reason in REASON_HINTS) out.reason = reason as ErrorReason;
      return out;
    }
  }
  return { code: 'internal', message: String(e) };
}

export function isApiError(e: unknown): e is ApiError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as ApiError).code === 'string' &&
    typeof (e as ApiError).message === 'string'
  );
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw normaliseError(e);
  }
}

/** What the first paint needs, in one round trip: the one index.html sent before the bundle
 * ran, taken once (a reloaded page's script sends it again); else asked for now. */
export function initialState(): Promise<InitialState> {
  const w = window as { __latchkeyFirst?: Promise<InitialState> };
  const early = w.__latchkeyFirst;
  w.__latchkeyFirst = undefined;
  // Which it was, for the end-to-end test: the CSP or a change to index.html could stop the
  // early request without anything else showing it.
  document.body.dataset.firstState = early ? 'early' : 'asked';
  if (!early) return call<InitialState>('initial_state');
  return early.catch((e: unknown) => {
    throw normaliseError(e);
  });
}
/** The window listens to events now: notices go to it as events from here on; returns those
 * that arrived before. */
export const eventsReady = () => call<Notice[]>('events_ready');

export const appInfo = () => call<AppInfo>('app_info');
export const listPresets = () => call<Preset[]>('list_presets');
export const listApps = () => call<ProviderApp[]>('list_apps');
export const saveApp = (input: AppInput) => call<ProviderApp>('save_app', { input });
export const removeApp = (id: string, revokeConnections: boolean) =>
  call<void>('remove_app', { id, revokeConnections });
export const discoverProvider = (preset: PresetId, baseUrl: string) =>
  call<Discovery>('discover_provider', { preset, baseUrl });
/** "Connect again with …": adds a scope to the provider app. */
export const addScope = (appId: string, scope: string) => call<ProviderApp>('add_scope', { appId, scope });
export const listConnections = () => call<Connection[]>('list_connections');
export const startConnect = (appId: string, connectionId: string | null = null) =>
  call<ConnectStart>('start_connect', { appId, connectionId });
export const cancelConnect = (flowId: string) => call<void>('cancel_connect', { flowId });
export const submitCode = (flowId: string, code: string) =>
  call<Connection>('submit_code', { flowId, code });
export const startDevice = (appId: string) => call<DeviceStart>('start_device', { appId });
/** Resolves when the sign-in on the other device is approved (or rejects: denied, expired, cancelled). */
export const waitDevice = (flowId: string) => call<Connection>('wait_device', { flowId });
export const cancelDevice = (flowId: string) => call<void>('cancel_device', { flowId });
export const connectionDetail = (id: string) => call<ConnectionDetail>('connection_detail', { id });
export const refreshNow = (id: string) => call<Connection>('refresh_now', { id });
export const revokeConnection = (id: string, localOnly: boolean) =>
  call<RevokeResult>('revoke_connection', { id, localOnly });
export const revokeGrant = (connectionId: string, grantId: string) =>
  call<void>('revoke_grant', { connectionId, grantId });
export const getSettings = () => call<Settings>('get_settings');
export const saveSettings = (settings: Settings) => call<Settings>('save_settings', { settings });
/** Whether the data file is damaged (the window then opens on the recovery screen). */
export const dataHealth = () => call<DataHealth>('data_health');
export const restoreBackup = () => call<Recovered>('restore_backup');
export const startEmpty = () => call<Recovered>('start_empty');
export const openExternal = (url: string) => call<void>('open_external', { url });
/** Tells the app the first list is on screen, with the page's start-up marks (measured by
 * `make bench`; a no-op otherwise). */
export const uiReady = (marks: Record<string, number>) =>
  call<void>('ui_ready', { marks: { ...marks, timeOrigin: performance.timeOrigin } }).catch(() => undefined);

/**
 * The backend's events. The window asks for them with one call that the app answers when
 * something happens (`next_events`), and asks again at once: the app never has to run a
 * script in the page to deliver one (README "Performance": on WebKitGTK that makes the app
 * process start a JavaScript engine of its own). Every subscriber sees every event, in order.
 */
type Kind = UiEvent['kind'];
type PayloadOf<K extends Kind> = Extract<UiEvent, { kind: K }> extends { payload: infer P } ? P : undefined;

const handlers = new Set<(e: UiEvent) => void>();
/** The running poll loop's number (0: none runs, nobody subscribes). */
let running = 0;
let loops = 0;

/** Asks for events until nobody subscribes. `page` names this loop to the app, so that a call
 * from a loop that ended (or a page that was reloaded) is answered empty, not with events. */
async function poll(me: number, page: number) {
  while (running === me) {
    let events: UiEvent[];
    try {
      events = await invoke<UiEvent[]>('next_events', { page });
    } catch (e) {
      console.error('next_events failed:', normaliseError(e).message);
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (running !== me) return;
    for (const e of events) {
      for (const h of [...handlers]) {
        try {
          h(e);
        } catch (err) {
          console.error(`handling ${e.kind} failed`, err);
        }
      }
    }
  }
}

/**
 * Subscribes to one kind of backend event and returns a synchronous unsubscribe, so
 * components can return it straight from `onMount`/`$effect`. The first subscriber starts the
 * calls for events; they stop when nobody subscribes.
 */
function subscribe<K extends Kind>(kind: K, handler: (payload: PayloadOf<K>) => void): () => void {
  const h = (e: UiEvent) => {
    if (e.kind === kind) handler((e as { payload?: unknown }).payload as PayloadOf<K>);
  };
  handlers.add(h);
  if (!running) {
    running = ++loops;
    void poll(running, Math.floor(Math.random() * Number.MAX_SAFE_INTEGER));
  }
  return () => {
    handlers.delete(h);
    if (handlers.size === 0) running = 0;
  };
}

export const onConnectFinished = (h: (p: ConnectFinished) => void) => subscribe('connectFinished', h);
export const onConnectionsChanged = (h: () => void) => subscribe('connectionsChanged', () => h());
export const onNotice = (h: (p: Notice) => void) => subscribe('notice', h);
