// A fake Latchkey backend for component tests: answers the IPC commands
// through mockIPC, records every call, and delivers events (as the app does: to the window's
// pending `next_events` call).
import { mockIPC } from '@tauri-apps/api/mocks';
import type {
  AppInfo,
  Connection,
  ConnectionDetail,
  ConnectStart,
  DataHealth,
  DeviceStart,
  Discovery,
  InitialState,
  Notice,
  Preset,
  ProviderApp,
  Recovered,
  RevokeResult,
  Settings,
  UiEvent,
} from '../src/lib/types';
import { normaliseError } from '../src/lib/api';
import presetsJson from './fixtures/presets.json';

export const NOW = () => Math.floor(Date.now() / 1000);

// The real preset table (`Latchkey::presets()`, what `list_presets` returns), written by
// `make types` and checked fresh by `make test`.
export const PRESETS = presetsJson as Preset[];

export function app(over: Partial<ProviderApp> = {}): ProviderApp {
  return {
    id: 'app-1',
    preset: 'rememberizer',
    name: 'My Rememberizer',
    baseUrl: null,
    clientId: 'cid',
    scopes: 'read offline_access',
    redirectMode: 'deep_link',
    redirectUri: 'app.latchkey:/oauth/callback',
    callbackId: null,
    loopbackPort: null,
    authMethod: 'client_secret_post',
    hasSecret: true,
    authorizeUrl: null,
    tokenUrl: null,
    revocationUrl: null,
    userinfoUrl: null,
    deviceAuthorizationUrl: null,
    connectionCount: 0,
    credentialsRejected: null,
    server: 'api.rememberizer.ai',
    ...over,
  };
}

export function connection(over: Partial<Connection> = {}): Connection {
  return {
    id: 'c-1',
    appId: 'app-1',
    appName: 'My Rememberizer',
    preset: 'rememberizer',
    accountId: '42',
    name: 'Alice Example',
    email: 'alice@example.com',
    label: null,
    status: 'connected',
    expiresAt: NOW() + 3 * 3600 + 30,
    lastRefreshAt: NOW() - 600,
    lastVerifiedAt: NOW() - 600,
    nextRefreshAt: NOW() + 3 * 3600 - 300,
    lastError: null,
    scopesGranted: ['read'],
    scopesRequested: ['read', 'offline_access'],
    createdAt: NOW() - 86400,
    appCredentialsRejected: null,
    revocation: 'tries',
    manageUrl: 'https://rememberizer.ai/personal/third-party-apps',
    server: 'api.rememberizer.ai',
    ...over,
  };
}

/** What each IPC command returns (src-tauri/commands.rs): the mocks answer with the real
 * (generated) types, so a test cannot rely on a shape the backend never sends. */
export interface Replies {
  initial_state: InitialState;
  app_info: AppInfo;
  list_presets: Preset[];
  list_apps: ProviderApp[];
  save_app: ProviderApp;
  discover_provider: Discovery;
  add_scope: ProviderApp;
  list_connections: Connection[];
  start_connect: ConnectStart;
  cancel_connect: null;
  submit_code: Connection;
  start_device: DeviceStart;
  wait_device: Connection;
  cancel_device: null;
  open_external: null;
  connection_detail: ConnectionDetail;
  refresh_now: Connection;
  revoke_connection: RevokeResult;
  revoke_grant: null;
  remove_app: null;
  get_settings: Settings;
  save_settings: Settings;
  data_health: DataHealth;
  restore_backup: Recovered;
  start_empty: Recovered;
  take_notices: Notice[];
  events_ready: Notice[];
  next_events: UiEvent[];
}

export type Handler<C extends keyof Replies = keyof Replies> = (
  args: Record<string, unknown>,
) => Replies[C] | Promise<Replies[C]>;

export interface Backend {
  calls: { cmd: string; args: Record<string, unknown> }[];
  state: { connections: Connection[]; apps: ProviderApp[] };
  on: <C extends keyof Replies>(cmd: C, h: Handler<C>) => void;
  callsOf: (cmd: string) => Record<string, unknown>[];
  /** Delivers an event to the window and lets its handlers run. */
  emit: (event: UiEvent) => Promise<void>;
}

export function fakeBackend(init: { connections?: Connection[]; apps?: ProviderApp[] } = {}): Backend {
  const state = { connections: init.connections ?? [], apps: init.apps ?? [] };
  const calls: Backend['calls'] = [];
  const handlers: { [C in keyof Replies]?: Handler<C> } = {
    app_info: () => ({
      version: '0.1.0',
      dataDir: '/home/alice/.local/share/latchkey',
      keyringService: 'latchkey',
      agentRunning: true,
    }),
    list_presets: () => PRESETS,
    list_apps: () => state.apps,
    list_connections: () => state.connections,
    data_health: () => ({ damaged: false, path: '/data/latchkey.json', backupAvailable: false, detail: null }),
    get_settings: () => ({ refreshMarginSecs: 300, notifications: true, autostartAgent: true, refreshAtLeastEveryDays: 7 }),
    save_settings: (a) => a.settings as Settings,
    cancel_connect: () => null,
    open_external: () => null,
    take_notices: () => [],
    events_ready: () => [],
  };
  // The app's event queue: `next_events` waits until an event is there.
  const queued: UiEvent[] = [];
  let waiting: ((events: UiEvent[]) => void) | null = null;
  handlers.next_events = () =>
    new Promise<UiEvent[]>((resolve) => {
      if (queued.length) resolve(queued.splice(0));
      else waiting = resolve;
    });
  const handle = (cmd: string, a: Record<string, unknown>) => {
    const h = handlers[cmd as keyof Replies] as Handler | undefined;
    if (!h) throw { code: 'internal', message: `unmocked command ${cmd}` };
    return h(a);
  };
  // As src-tauri/commands.rs `initial_state` builds it: from the handlers a test may replace
  // (list_connections, data_health, take_notices — the last stands for the notice queue).
  handlers.initial_state = async () => {
    const notices = (await handle('take_notices', {})) as Notice[];
    try {
      const connections = (await handle('list_connections', {})) as Connection[];
      return { connections, error: null, health: null, notices };
    } catch (e) {
      const error = normaliseError(e);
      const health = error.code === 'damaged_data' ? ((await handle('data_health', {})) as DataHealth) : null;
      return { connections: [], error, health, notices };
    }
  };
  mockIPC(
    (cmd, args) => {
      const a = (args ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args: a });
      return handle(cmd, a);
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    state,
    on: (cmd, h) => {
      (handlers as Record<string, Handler>)[cmd] = h as Handler;
    },
    callsOf: (cmd) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    emit: async (event) => {
      queued.push(event);
      const w = waiting;
      waiting = null;
      w?.(queued.splice(0));
      // The answer crosses the (mocked) bridge and reaches the handlers in microtasks only, so
      // this works under fake timers too.
      for (let i = 0; i < 20; i++) await Promise.resolve();
    },
  };
}
