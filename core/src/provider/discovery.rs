//! RFC 8414 / OpenID Connect discovery: where the metadata document is, what it says, and
//! what it changes in a provider app.

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::http;
use crate::provider::ProviderApp;
use crate::provider::{AuthMethod, RevocationStyle, check_endpoint};

/// What RFC 8414 / OpenID discovery told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `issuer`.
    pub issuer: Option<String>,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<Url>,
    /// `token_endpoint`.
    pub token_endpoint: Option<Url>,
    /// `revocation_endpoint`.
    pub revocation_endpoint: Option<Url>,
    /// `userinfo_endpoint`.
    pub userinfo_endpoint: Option<Url>,
    /// `device_authorization_endpoint` (RFC 8628 §4).
    pub device_authorization_endpoint: Option<Url>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3).
    pub iss_parameter_supported: bool,
    /// The first auth method we support from `token_endpoint_auth_methods_supported`.
    pub auth_method: Option<AuthMethod>,
    /// `scopes_supported`.
    pub scopes_supported: Vec<String>,
}

/// The scopes a Generic app asks for by default, when the server lists them: who the person
/// is, and staying connected.
const GENERIC_DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl Metadata {
    /// The default scopes for a Generic app from `scopes_supported` (empty: none listed).
    pub fn default_scopes(&self) -> String {
        GENERIC_DEFAULT_SCOPES
            .into_iter()
            .filter(|s| self.scopes_supported.iter().any(|x| x == s))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Parses a metadata document; endpoints that are not HTTPS/loopback are ignored.
pub fn parse_metadata(v: &Value) -> Metadata {
    let url = |k: &str| {
        v.get(k).and_then(Value::as_str).and_then(|s| Url::parse(s).ok()).filter(|u| check_endpoint(u).is_ok())
    };
    let methods: Vec<&str> = v
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let auth_method = if methods.is_empty() {
        None
    } else if methods.contains(&"client_secret_post") {
        Some(AuthMethod::ClientSecretPost)
    } else if methods.contains(&"client_secret_basic") {
        Some(AuthMethod::ClientSecretBasic)
    } else {
        None
    };
    Metadata {
        issuer: v.get("issuer").and_then(Value::as_str).map(str::to_owned),
        authorization_endpoint: url("authorization_endpoint"),
        token_endpoint: url("token_endpoint"),
        revocation_endpoint: url("revocation_endpoint"),
        userinfo_endpoint: url("userinfo_endpoint"),
        device_authorization_endpoint: url("device_authorization_endpoint"),
        iss_parameter_supported: v
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        auth_method,
        scopes_supported: v
            .get("scopes_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).take(200).map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// Where an issuer publishes its metadata, in the order tried: RFC 8414 §3.1 inserts the
/// well-known segment between host and path (`https://h/.well-known/oauth-authorization-server/t`);
/// OpenID Connect Discovery §4 appends it (`https://h/t/.well-known/openid-configuration`);
/// last, the RFC 8414 segment appended, as servers at a path often publish it. For an issuer
/// without a path the forms coincide.
pub fn well_known_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |p: String| {
        let mut u = issuer.clone();
        u.set_path(&p);
        u.set_query(None);
        u.set_fragment(None);
        u
    };
    let mut urls = vec![
        at(format!("/.well-known/oauth-authorization-server{path}")),
        at(format!("{path}/.well-known/openid-configuration")),
    ];
    if !path.is_empty() {
        urls.push(at(format!("{path}/.well-known/oauth-authorization-server")));
    }
    urls
}

/// RFC 8414 / OpenID discovery at [`well_known_urls`]. A document counts only when its
/// `issuer` is the base URL exactly (RFC 8414 §3.3; a trailing `/` aside). `Ok(None)` when the
/// provider publishes none.
///
/// # Errors
/// A server error or rate limit (it says nothing about whether metadata exists), and
/// documents that all name another issuer.
pub async fn discover(client: &reqwest::Client, base: &Url) -> Result<Option<Metadata>> {
    let expected = base.as_str().trim_end_matches('/');
    let mut other_issuer = None;
    for url in well_known_urls(base) {
        let answer =
            http::send("the provider's metadata", client.get(url).header("Accept", "application/json")).await?;
        // A server error says nothing about whether metadata exists: an error, not "none" (a
        // caller keeps what an earlier discovery found).
        if answer.status.is_server_error() || answer.status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(answer.error("the provider's metadata", false));
        }
        if answer.status.is_success()
            && let Ok(v) = answer.json("the provider's metadata")
        {
            let m = parse_metadata(&v);
            match m.issuer.as_deref() {
                Some(iss) if iss.trim_end_matches('/') == expected => return Ok(Some(m)),
                Some(iss) => other_issuer = Some(iss.to_owned()),
                None => other_issuer = Some("none".to_owned()),
            }
        }
    }
    match other_issuer {
        Some(iss) => Err(Error::InvalidInput(format!(
            "the provider's metadata names issuer {iss:?}, not {expected}; check the base URL (it must be the issuer)"
        ))),
        None => Ok(None),
    }
}

/// Applies discovered metadata to an app (explicit URLs the person typed win).
pub fn apply_metadata(app: &mut ProviderApp, m: &Metadata) {
    if app.authorize_url.is_none() {
        app.authorize_url = m.authorization_endpoint.clone();
    }
    if app.token_url.is_none() {
        app.token_url = m.token_endpoint.clone();
    }
    // A preset with its own way to revoke (Fusio's bearer revoke) keeps it.
    let own_revoke = matches!(app.preset.preset().revocation, RevocationStyle::FusioBearer(_));
    if app.revocation_url.is_none() && !own_revoke {
        app.revocation_url = m.revocation_endpoint.clone();
    }
    if app.userinfo_url.is_none() {
        app.userinfo_url = m.userinfo_endpoint.clone();
    }
    if app.device_authorization_url.is_none() {
        app.device_authorization_url = m.device_authorization_endpoint.clone();
    }
    app.issuer = m.issuer.clone();
    app.iss_required = m.iss_parameter_supported;
    if app.preset.preset().discovery_decides {
        app.auth_method = m.auth_method;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::PresetId;
    use crate::provider::app::tests::app;

    #[test]
    fn well_known_addresses_insert_before_the_path() {
        let urls = |s: &str| well_known_urls(&Url::parse(s).unwrap()).iter().map(Url::to_string).collect::<Vec<_>>();
        assert_eq!(
            urls("https://id.example/tenant/"),
            [
                "https://id.example/.well-known/oauth-authorization-server/tenant",
                "https://id.example/tenant/.well-known/openid-configuration",
                "https://id.example/tenant/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            urls("https://id.example"),
            [
                "https://id.example/.well-known/oauth-authorization-server",
                "https://id.example/.well-known/openid-configuration"
            ]
        );
        let m =
            parse_metadata(&serde_json::json!({"scopes_supported": ["email", "openid", "admin", "offline_access"]}));
        assert_eq!(m.default_scopes(), "openid email offline_access");
        assert_eq!(parse_metadata(&serde_json::json!({"scopes_supported": "openid"})).default_scopes(), "");
    }

    #[test]
    fn metadata_fills_what_was_not_typed() {
        let v = serde_json::json!({
            "issuer": "https://id.example",
            "authorization_endpoint": "https://id.example/o/authorize/",
            "token_endpoint": "https://id.example/o/token/",
            "revocation_endpoint": "http://evil.example/revoke",
            "userinfo_endpoint": "https://id.example/o/userinfo/",
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "authorization_response_iss_parameter_supported": true
        });
        let m = parse_metadata(&v);
        assert_eq!(m.revocation_endpoint, None, "plain http off loopback is ignored");
        let mut a = app(PresetId::Generic, Some("https://id.example"));
        a.token_url = Some(Url::parse("https://id.example/typed").unwrap());
        apply_metadata(&mut a, &m);
        assert_eq!(a.token_url.as_ref().unwrap().path(), "/typed");
        assert_eq!(a.authorize_url.as_ref().unwrap().path(), "/o/authorize/");
        assert!(a.iss_required);
        assert_eq!(a.auth_method, Some(AuthMethod::ClientSecretBasic));
        assert_eq!(a.endpoints().unwrap().issuer.as_deref(), Some("https://id.example"));
    }
}
