// Types of the IPC contract between the Rust backend and this UI.
//
// Everything here comes from `./generated/`, which `make types` writes from the Rust
// definitions (ts-rs; core/examples/ts_types.rs) and `make test` checks is fresh: edit the
// Rust type, run `make types`, never edit the generated files. The names here are the ones
// the components use. Field names are camelCase as they cross the bridge; where Rust has an
// `Option` the field is `T | null` (or `field?: T` where Rust leaves it out).
import type {
  AppView,
  ConnectionView,
  Detail,
  DiscoveryView,
  ErrorView,
  PresetView,
  RevokeOutcome,
  Status,
} from './generated';

export type {
  AppInfo,
  AppInput,
  AuthMethod,
  ConnectFinished,
  ConnectStart,
  DataHealth,
  DeviceStart,
  InitialState,
  ErrorCode,
  ErrorReason,
  Grant,
  Memento,
  Notice,
  NoticeLevel,
  PresetId,
  Profile,
  Recovered,
  RedirectMode,
  RefreshLogEntry,
  RevokeSupport,
  Settings,
  UiEvent,
} from './generated';

/** An error as it crosses the bridge: `{ code, message, reason?, scope? }` (Rust `ErrorView`). */
export type ApiError = ErrorView;
/** A preset, for the provider-app form (Rust `PresetView`). */
export type Preset = PresetView;
/** What discovery found at a base URL (Rust `DiscoveryView`). */
export type Discovery = DiscoveryView;
/** A provider app, without its secret (Rust `AppView`). */
export type ProviderApp = AppView;
/** What a connection is doing (Rust `store::Status`). */
export type ConnectionStatus = Status;
/** A connection, without its tokens (Rust `ConnectionView`). */
export type Connection = ConnectionView;
/** The connection detail view (Rust `manage::Detail`). */
export type ConnectionDetail = Detail;
/** What a revoke achieved (Rust `RevokeOutcome`). */
export type RevokeResult = RevokeOutcome;
