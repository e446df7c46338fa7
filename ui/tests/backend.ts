// A fake Latchkey backend for component tests: answers the IPC commands
// through mockIPC, records every call, and emits events.
import { emit } from '@tauri-apps/api/event';
import { mockIPC } from '@tauri-apps/api/mocks';
import type { Connection, Preset, ProviderApp } from '../src/lib/types';

export const NOW = () => Math.floor(Date.now() / 1000);

export const PRESETS: Preset[] = [
  {
    id: 'rememberizer',
    name: 'Rememberizer',
    baseUrlRequired: false,
    defaultBaseUrl: 'https://api.rememberizer.ai',
    defaultScopes: 'read offline_access',
    redirectModes: ['deep_link', 'loopback'],
    help: 'Register an app at Rememberizer → Developer → Apps.',
    discovery: false,
    endpointsSuffice: false,
    authMethod: 'client_secret_post',
    manageUrl: 'https://rememberizer.ai/apps',
  },
  {
    id: 'textmaster',
    name: 'TextMaster',
    baseUrlRequired: false,
    defaultBaseUrl: 'https://app.textmaster.com',
    defaultScopes: 'public user:read user:email',
    redirectModes: ['paste', 'deep_link', 'loopback'],
    help: 'Create an application in your TextMaster account.',
    discovery: false,
    endpointsSuffice: false,
    authMethod: 'client_secret_post',
    manageUrl: null,
  },
  {
    id: 'fusio',
    name: 'Fusio',
    baseUrlRequired: true,
    defaultBaseUrl: null,
    defaultScopes: 'backend',
    redirectModes: ['loopback', 'paste'],
    help: 'Add an app in your Fusio backend.',
    discovery: true,
    endpointsSuffice: false,
    authMethod: 'client_secret_basic',
    manageUrl: null,
  },
  {
    id: 'generic',
    name: 'Generic OAuth 2.0',
    baseUrlRequired: true,
    defaultBaseUrl: null,
    defaultScopes: '',
    redirectModes: ['deep_link', 'loopback', 'paste'],
    help: 'Any RFC 6749 server.',
    discovery: true,
    endpointsSuffice: true,
    authMethod: 'client_secret_post',
    manageUrl: null,
  },
];

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
    hasSecret: true,
    connectionCount: 0,
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
    nextRefreshAt: NOW() + 3 * 3600 - 300,
    lastError: null,
    scopesGranted: ['read'],
    scopesRequested: ['read', 'offline_access'],
    createdAt: NOW() - 86400,
    ...over,
  };
}

export type Handler = (args: Record<string, unknown>) => unknown;

export interface Backend {
  calls: { cmd: string; args: Record<string, unknown> }[];
  state: { connections: Connection[]; apps: ProviderApp[] };
  on: (cmd: string, h: Handler) => void;
  callsOf: (cmd: string) => Record<string, unknown>[];
  emit: (event: string, payload: unknown) => Promise<void>;
}

export function fakeBackend(init: { connections?: Connection[]; apps?: ProviderApp[] } = {}): Backend {
  const state = { connections: init.connections ?? [], apps: init.apps ?? [] };
  const calls: Backend['calls'] = [];
  const handlers: Record<string, Handler> = {
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
    save_settings: (a) => a.settings,
    cancel_connect: () => null,
    open_external: () => null,
  };
  mockIPC(
    (cmd, args) => {
      const a = (args ?? {}) as Record<string, unknown>;
      calls.push({ cmd, args: a });
      const h = handlers[cmd];
      if (!h) throw { code: 'internal', message: `unmocked command ${cmd}` };
      return h(a);
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    state,
    on: (cmd, h) => {
      handlers[cmd] = h;
    },
    callsOf: (cmd) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    emit: (event, payload) => emit(event, payload),
  };
}
