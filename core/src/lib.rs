//! Latchkey's core: provider presets, the OAuth 2.0 authorization-code flow with PKCE,
//! tolerant token parsing, the keychain vault, the metadata store and the provider APIs.
//! No Tauri here: the desktop shell, the background agent and the command line all use
//! [`Latchkey`].
//!
//! Protocol decisions cite RFC 6749 (OAuth 2.0), 7636 (PKCE), 8252 (native apps),
//! 9700 (security BCP), 7009 (revocation), 8414 (metadata), 9207 (`iss`) and 8628 (device
//! authorization grant).
//!
//! Where a change goes (the README's Layout section draws the same map):
//! - the facade, [`Latchkey`], in `latchkey.rs`, with [`Config`] (`config.rs`) and [`Event`]
//!   (`event.rs`); its methods live beside their concern:
//!   - provider apps — the presets' view, save with its pure validation, discovery preview,
//!     remove: `apps/`;
//!   - connecting — the pending flow, the loopback listener, the callback checks, the device
//!     grant, storing a sign-in: `connect/`;
//!   - connections — list, detail, revoke, label, settings: `connections.rs`;
//!   - refresh — single flight and locks, saving, the check after a refresh, the pure schedule
//!     and the background worker: `refresh/`;
//!   - a damaged data file: `recovery.rs`; other processes' changes: `watch.rs`;
//! - providers — the preset table (each provider's behaviour is a row), the provider app and
//!   its endpoints, discovery: `provider/`;
//! - what goes over the wire: the token endpoint (`token_endpoint.rs`), token responses
//!   (`token.rs`), the providers' resource APIs (`resources.rs`), the HTTP client (`http.rs`);
//! - what is kept: the keychain (`vault.rs`), the metadata file (`store/`), advisory file
//!   locks (`lockfile.rs`);
//! - what crosses to the window: `views.rs`, `window.rs`, and the views in `apps/` and
//!   `connections.rs` (generated into TypeScript by `make types`).

// Every public function that can fail says when, in an `# Errors` section.
#![warn(clippy::missing_errors_doc)]

pub mod agent;
pub mod clock;
pub mod config;
pub mod connect;
pub mod error;
pub mod http;
pub mod launch;
pub mod links;
pub mod lockfile;
pub mod provider;
pub mod refresh;
pub mod resources;
pub mod store;
pub mod token;
pub mod token_endpoint;
pub mod vault;
pub mod window;

mod apps;
mod connections;
mod event;
mod latchkey;
mod recovery;
mod views;
mod watch;

pub use apps::{AppInput, AppView, DiscoveryView, PresetView, redirect_uri_for};
pub use clock::{Clock, Timestamp};
pub use config::{APP_ID, Config, MIN_REFRESH_INTERVAL_SECS};
pub use connect::ConnectStart;
pub use connections::{Detail, RevokeOutcome};
pub use error::{Error, ErrorCode, ErrorReason, OAuthError, Result};
pub use event::{Event, Notification};
pub use latchkey::Latchkey;
pub use provider::{PresetId, ProviderApp, RedirectMode};
pub use recovery::{DataHealth, Recovered, report_damaged};
pub use store::{Connection, Settings, Status};
pub use views::{ConnectionView, ErrorView};
pub use watch::StoreWatch;
