// Types of the IPC contract between the Rust backend and this UI.
// Field names are camelCase as they cross the bridge.

export type ErrorCode =
  | 'needs_reconnect'
  | 'keychain_unavailable'
  | 'provider_rejected'
  | 'network'
  | 'invalid_input'
  | 'not_found'
  | 'flow'
  | 'missing_scope'
  | 'internal'
  | 'damaged_data';

/** Which error exactly, where the advice differs from the code's (mirrors Rust `ErrorReason`). */
export type ErrorReason =
  | 'access_denied'
  | 'invalid_scope'
  | 'client_rejected'
  | 'invalid_grant'
  | 'unsupported'
  | 'provider_unavailable'
  | 'unreachable'
  | 'busy'
  | 'keychain_locked';

export interface ApiError {
  code: ErrorCode;
  message: string;
  reason?: ErrorReason;
  /** missing_scope: the scope concerned, when known ("Connect again with …"). */
  scope?: string;
}

/**
 * What Revoke can do at the provider (mirrors Rust `RevokeSupport`): the provider revokes;
 * Latchkey tries an undocumented endpoint that may not be offered; or it cannot (removal here
 * only, and the provider's page).
 */
export type RevokeSupport = 'revokes' | 'tries' | 'cannot';

export type PresetId = 'rememberizer' | 'textmaster' | 'fusio' | 'generic';
export type RedirectMode = 'deep_link' | 'loopback' | 'paste';
/** Token-endpoint client authentication (RFC 6749 §2.3.1). */
export type AuthMethod = 'client_secret_post' | 'client_secret_basic';

export interface Preset {
  id: PresetId;
  name: string;
  baseUrlRequired: boolean;
  defaultBaseUrl: string | null;
  defaultScopes: string;
  redirectModes: RedirectMode[];
  help: string;
  manageUrl: string | null;
  /** Whether Latchkey reads the server's metadata (RFC 8414 / OpenID discovery). */
  discovery: boolean;
  /** Entering the authorization and token endpoints can replace the server address. */
  endpointsSuffice: boolean;
  /** The preset's token-endpoint client authentication. */
  authMethod: AuthMethod;
}

/** What discovery found at a base URL. */
export interface Discovery {
  found: boolean;
  issuer: string | null;
  authorizeUrl: string | null;
  tokenUrl: string | null;
  revocationUrl: string | null;
  userinfoUrl: string | null;
  deviceAuthorizationUrl: string | null;
  authMethod: AuthMethod | null;
  /** Generic: the scopes Latchkey asks for by default. */
  defaultScopes: string | null;
  scopesSupported: string[];
}

export interface ProviderApp {
  id: string;
  preset: PresetId;
  name: string;
  baseUrl: string | null;
  clientId: string;
  scopes: string;
  redirectMode: RedirectMode;
  redirectUri: string | null;
  /** The app's own callback path segment; null for apps saved before apps had one. */
  callbackId?: string | null;
  /** A fixed loopback port (servers that match the redirect URI exactly); null: any port. */
  loopbackPort?: number | null;
  /** Token-endpoint client authentication in force. */
  authMethod?: AuthMethod;
  hasSecret: boolean;
  authorizeUrl?: string | null;
  tokenUrl?: string | null;
  revocationUrl?: string | null;
  userinfoUrl?: string | null;
  /** RFC 8628 device authorization endpoint: "Sign in on another device" is offered. */
  deviceAuthorizationUrl?: string | null;
  connectionCount: number;
  /** The provider rejected this app's credentials on refresh (its words). */
  credentialsRejected?: string | null;
  /** The server in force, host and port (the override, or the preset's production host). */
  server?: string | null;
}

export interface AppInput {
  id?: string;
  preset: PresetId;
  name: string;
  baseUrl?: string | null;
  clientId: string;
  /** Empty or absent on edit keeps the stored secret. */
  clientSecret?: string | null;
  scopes: string;
  redirectMode: RedirectMode;
  authorizeUrl?: string | null;
  tokenUrl?: string | null;
  revocationUrl?: string | null;
  userinfoUrl?: string | null;
  /** New apps: the callback path segment the form showed in the redirect URI. */
  callbackId?: string | null;
  /** Absent: discovery's or the preset's. */
  authMethod?: AuthMethod | null;
  /** 1024–65535; absent: any free port per sign-in. */
  loopbackPort?: number | null;
  /** RFC 8628 device authorization endpoint; absent: discovery's, if any. */
  deviceAuthorizationUrl?: string | null;
}

export type ConnectionStatus =
  | 'connected'
  | 'refreshing'
  | 'waiting_to_save'
  | 'needs_reconnect'
  | 'revocation_pending';

export interface Connection {
  id: string;
  appId: string;
  appName: string;
  preset: PresetId;
  accountId: string;
  name: string | null;
  email: string | null;
  label: string | null;
  status: ConnectionStatus;
  /** Unix seconds. */
  expiresAt: number | null;
  lastRefreshAt: number | null;
  /** When the provider last accepted the access token (at connect and after each refresh). */
  lastVerifiedAt?: number | null;
  nextRefreshAt: number | null;
  lastError: string | null;
  scopesGranted: string[];
  scopesRequested: string[];
  createdAt: number;
  /** The provider rejected the provider app's credentials (its words): fix the app. */
  appCredentialsRejected?: string | null;
  /** What Revoke can do at the provider (said before the click). */
  revocation?: RevokeSupport;
  /** The provider's page for connected apps, when known for this app's server. */
  manageUrl?: string | null;
  /** The provider app's server (host and port). */
  server?: string | null;
}

export interface ConnectStart {
  flowId: string;
  authorizeUrl: string;
  mode: RedirectMode;
  redirectUri: string | null;
  /** Unix seconds. */
  expiresAt: number;
}

/** A started sign-in on another device (RFC 8628). */
export interface DeviceStart {
  flowId: string;
  /** The code to enter at the verification URI. */
  userCode: string;
  verificationUri: string;
  /** The URI with the code in it, when the provider gives one. */
  verificationUriComplete: string | null;
  /** Unix seconds. */
  expiresAt: number;
  /** Seconds between polls. */
  interval: number;
}

export interface Profile {
  id: string;
  name: string | null;
  email: string | null;
  extra: Record<string, string>;
}

export interface Memento {
  id: string;
  name: string;
  description: string | null;
  documentsCount: number | null;
}

export interface Grant {
  id: string;
  appName: string;
  appUrl: string | null;
  createdAt: string | null;
}

export interface RefreshLogEntry {
  /** Unix seconds. */
  at: number;
  ok: boolean;
  message: string | null;
}

export interface ConnectionDetail {
  connection: Connection;
  profile: Profile | null;
  profileError: ApiError | null;
  mementos: Memento[] | null;
  grants: Grant[] | null;
  extrasError: ApiError | null;
  manageUrl: string | null;
  refreshLog: RefreshLogEntry[];
  /** Plain-language labels of the scopes the preset knows. */
  scopeLabels?: Record<string, string>;
}

export interface RevokeResult {
  revokedAtProvider: boolean;
  pending: boolean;
  message: string;
  manageUrl: string | null;
}

export interface Settings {
  refreshMarginSecs: number;
  notifications: boolean;
  autostartAgent: boolean;
  /** Refresh every connection at least this often (days), whatever its token's lifetime. */
  refreshAtLeastEveryDays: number;
}

export interface AppInfo {
  version: string;
  dataDir: string;
  keyringService: string;
  agentRunning: boolean;
}

export interface ConnectFinished {
  flowId: string;
  ok: boolean;
  connection?: Connection;
  error?: ApiError;
}

/** Something for the window to say, or (`show`) a connection to open: a notification was activated. */
export interface Notice {
  level: 'info' | 'error' | 'show';
  message: string;
  connectionId?: string;
}

/** The metadata file's state: a damaged file opens the window on the recovery screen. */
export interface DataHealth {
  damaged: boolean;
  path: string;
  backupAvailable: boolean;
  detail: string | null;
}

export interface Recovered {
  restored: boolean;
  keptAt: string;
  message: string;
}
