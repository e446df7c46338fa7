//! Providers: the preset table (a reviewed data table that carries each provider's behaviour),
//! the provider apps a person registers and their endpoints, and discovery.
//!
//! Endpoints are paths relative to a base URL, so tests, staging and self-hosted instances
//! override the base and keep the paths.

mod app;
mod discovery;
mod presets;

pub use app::{Endpoints, ProviderApp, Revocation, RevokeSupport};
pub use discovery::{Metadata, apply_metadata, discover, parse_metadata, well_known_urls};
pub use presets::{
    AuthMethod, DEEP_LINK_REDIRECT, Extras, LOOPBACK_PATH, OOB_REDIRECT, Preset, PresetId, ProfileStyle, RedirectMode,
    RevocationStyle, URL_SCHEME, callback_path, check_endpoint, join, valid_callback_id,
};
