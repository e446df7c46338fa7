//! Latchkey's core: provider presets, the OAuth 2.0 authorization-code flow with PKCE,
//! tolerant token parsing, the keychain vault, the metadata store and the provider APIs.
//! No Tauri here: the desktop shell, the background agent and the command line all use
//! [`Latchkey`].
//!
//! Protocol decisions cite RFC 6749 (OAuth 2.0), 7636 (PKCE), 8252 (native apps),
//! 9700 (security BCP), 7009 (revocation), 8414 (metadata), 9207 (`iss`) and 8628 (device
//! authorization grant).

// Every public function that can fail says when, in an `# Errors` section.
#![warn(clippy::missing_errors_doc)]

pub mod agent;
pub mod api;
pub mod clock;
pub mod config;
pub mod device;
pub mod endpoints;
pub mod error;
pub mod flow;
pub mod http;
pub mod launch;
pub mod links;
pub mod loopback;
pub mod manage;
pub mod oauth;
pub mod provider;
pub mod recovery;
pub mod refresh;
pub mod refresher;
pub mod schedule;
pub mod service;
pub mod store;
pub mod token;
pub mod vault;
pub mod watch;
pub mod window;

pub use clock::{Clock, Timestamp};
pub use error::{Error, ErrorCode, ErrorReason, OAuthError, Result};
pub use provider::{PresetId, RedirectMode};
pub use service::{AppInput, AppView, Config, ConnectStart, ConnectionView, DiscoveryView, ErrorView, Event, Latchkey};
pub use store::{Connection, ProviderApp, Settings, Status};
