//! Provider resource APIs: the account profile, Rememberizer mementos, Fusio app grants.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::http;
use crate::provider::Endpoints;
use crate::provider::{ProfileStyle, join};

/// The account a connection belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Account id (numbers become strings).
    pub id: String,
    /// Display name.
    pub name: Option<String>,
    /// The account's email, when the provider shares it.
    pub email: Option<String>,
    /// Other plain fields worth showing.
    pub extra: BTreeMap<String, String>,
}

/// A Rememberizer memento.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Memento {
    /// The memento's id at Rememberizer.
    pub id: String,
    /// Its name, as the person named it.
    pub name: String,
    /// What it holds.
    pub description: Option<String>,
    /// How many documents, if the API says.
    pub documents_count: Option<i64>,
}

/// A Fusio app grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The grant's id at Fusio (what revoking it takes).
    pub id: String,
    /// The app's name.
    pub app_name: String,
    /// The app's URL.
    pub app_url: Option<String>,
    /// When it was granted.
    pub created_at: Option<String>,
}

fn id_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// Reads a profile body in the preset's shape.
///
/// # Errors
/// [`Error::BadResponse`] when the profile has no usable account id.
pub fn parse_profile(style: ProfileStyle, v: &Value) -> Result<Profile> {
    const WHAT: &str = "the profile endpoint";
    let id = match style {
        ProfileStyle::UserInfo => id_string(v.get("sub")).or_else(|| id_string(v.get("id"))),
        _ => id_string(v.get("id")),
    }
    .ok_or(Error::BadResponse { what: WHAT, detail: "no account id".into() })?;
    let mut extra = BTreeMap::new();
    let name = match style {
        ProfileStyle::Textmaster => {
            let ci = v.get("contact_information").cloned().unwrap_or(Value::Null);
            let full = [str_field(&ci, "first_name"), str_field(&ci, "last_name")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            if let Some(ident) = str_field(v, "ident") {
                extra.insert("ident".into(), ident.clone());
            }
            if let Some(locale) = str_field(v, "locale") {
                extra.insert("locale".into(), locale);
            }
            if full.is_empty() { str_field(v, "ident") } else { Some(full) }
        }
        ProfileStyle::UserInfo => str_field(v, "name").or_else(|| str_field(v, "preferred_username")),
        ProfileStyle::Fusio => {
            if let Some(scopes) = v.get("scopes").and_then(Value::as_array) {
                let s: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
                extra.insert("scopes".into(), s.join(", "));
            }
            str_field(v, "name")
        }
        ProfileStyle::Rememberizer => str_field(v, "name"),
    };
    Ok(Profile { id, name, email: str_field(v, "email"), extra })
}

async fn get_json(client: &reqwest::Client, url: url::Url, token: &SecretString, what: &'static str) -> Result<Value> {
    let req = client.get(url).bearer_auth(token.expose_secret()).header("Accept", "application/json");
    let answer = http::send(what, req).await?;
    match answer.status.as_u16() {
        200..=299 => answer.json(what),
        // A resource server's 401 means "bad token", whatever the body says: the caller
        // refreshes once and retries.
        401 => Err(Error::Http { what, status: 401, detail: None, retry_after: None }),
        403 => Err(Error::MissingScope {
            scope: answer.scope_needed.clone(),
            detail: crate::token::parse_error_response(&answer.body, 403).and_then(|e| e.description),
        }),
        _ => Err(answer.error(what, true)),
    }
}

/// `GET` the profile endpoint with the access token.
///
/// # Errors
/// Network and HTTP errors; [`Error::MissingScope`] for a 403; a profile without an account id.
pub async fn fetch_profile(
    client: &reqwest::Client,
    e: &Endpoints,
    style: ProfileStyle,
    token: &SecretString,
) -> Result<Profile> {
    let v = get_json(client, e.profile.clone(), token, "the profile endpoint").await?;
    parse_profile(style, &v)
}

/// Reads a list that may be bare or DRF-paginated (`results`) or Fusio-style (`entry`).
fn items(v: &Value) -> Vec<Value> {
    v.as_array()
        .or_else(|| v.get("results").and_then(Value::as_array))
        .or_else(|| v.get("entry").and_then(Value::as_array))
        .cloned()
        .unwrap_or_default()
}

/// Rememberizer: `GET /api/v1/mementos/`.
///
/// # Errors
/// Network and HTTP errors; [`Error::MissingScope`] for a 403; an answer that is not a memento list.
pub async fn mementos(client: &reqwest::Client, e: &Endpoints, token: &SecretString) -> Result<Vec<Memento>> {
    let v = get_json(client, join(&e.api_base, "/api/v1/mementos/")?, token, "the mementos endpoint").await?;
    Ok(parse_mementos(&v))
}

/// Reads a mementos list (bare or paginated); entries without an id are skipped.
pub fn parse_mementos(v: &Value) -> Vec<Memento> {
    items(v)
        .iter()
        .filter_map(|m| {
            Some(Memento {
                id: id_string(m.get("id"))?,
                name: str_field(m, "name").unwrap_or_else(|| "(unnamed)".into()),
                description: str_field(m, "description"),
                documents_count: documents_count(m),
            })
        })
        .collect()
}

/// The names a memento's document count goes by (Rememberizer's serializers are not
/// consistent across versions, and the docs show none): a count under one of these, a numeric
/// string, or the list of documents itself.
const DOCUMENT_COUNT_FIELDS: [&str; 7] = [
    "documents_count",
    "document_count",
    "documentsCount",
    "documentCount",
    "num_documents",
    "number_of_documents",
    "doc_count",
];

fn documents_count(m: &Value) -> Option<i64> {
    let count = |v: &Value| match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    DOCUMENT_COUNT_FIELDS
        .iter()
        .find_map(|k| m.get(*k).and_then(count))
        .or_else(|| match m.get("documents") {
            Some(Value::Array(docs)) => Some(docs.len() as i64),
            Some(v) => count(v),
            None => None,
        })
        .filter(|n| *n >= 0)
}

/// Fusio: `GET /consumer/grant`.
///
/// # Errors
/// Network and HTTP errors; [`Error::MissingScope`] for a 403; an answer that is not a grant list.
pub async fn grants(client: &reqwest::Client, e: &Endpoints, token: &SecretString) -> Result<Vec<Grant>> {
    let v = get_json(client, join(&e.api_base, "/consumer/grant")?, token, "the grants endpoint").await?;
    Ok(parse_grants(&v))
}

/// Reads a Fusio grants list (`entry`); entries without an id are skipped.
pub fn parse_grants(v: &Value) -> Vec<Grant> {
    items(v)
        .iter()
        .filter_map(|g| {
            let app = g.get("app").cloned().unwrap_or(Value::Null);
            Some(Grant {
                id: id_string(g.get("id"))?,
                app_name: str_field(&app, "name").unwrap_or_else(|| "(unnamed app)".into()),
                app_url: str_field(&app, "url"),
                created_at: str_field(g, "createDate"),
            })
        })
        .collect()
}

/// Fusio: `DELETE /consumer/grant/{id}`.
///
/// # Errors
/// Network and HTTP errors, and Fusio refusing (the grant is gone or not the account's).
pub async fn revoke_grant(client: &reqwest::Client, e: &Endpoints, token: &SecretString, grant_id: &str) -> Result<()> {
    if grant_id.is_empty() || !grant_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(Error::InvalidInput(format!("{grant_id:?} is not a grant id")));
    }
    const WHAT: &str = "the grants endpoint";
    let url = join(&e.api_base, &format!("/consumer/grant/{grant_id}"))?;
    let answer =
        http::send(WHAT, client.delete(url).bearer_auth(token.expose_secret()).header("Accept", "application/json"))
            .await?;
    if answer.status.is_success() { Ok(()) } else { Err(answer.error(WHAT, true)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn profiles_in_every_shape() {
        let p = parse_profile(ProfileStyle::Rememberizer, &json!({"id": 42, "email": "a@x", "name": "A"})).unwrap();
        assert_eq!((p.id.as_str(), p.name.as_deref(), p.email.as_deref()), ("42", Some("A"), Some("a@x")));
        let p = parse_profile(ProfileStyle::Rememberizer, &json!({"id": "u-1"})).unwrap();
        assert_eq!(p.id, "u-1");
        let p = parse_profile(
            ProfileStyle::Textmaster,
            &json!({"id": "5f", "ident": "AL-1", "email": "a@x", "contact_information": {"first_name": "Al", "last_name": "Ex"}}),
        )
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("Al Ex"));
        assert_eq!(p.extra["ident"], "AL-1");
        let p = parse_profile(ProfileStyle::UserInfo, &json!({"sub": "s1", "preferred_username": "al"})).unwrap();
        assert_eq!((p.id.as_str(), p.name.as_deref()), ("s1", Some("al")));
        let p =
            parse_profile(ProfileStyle::Fusio, &json!({"id": 7, "name": "al", "scopes": ["consumer", "x"]})).unwrap();
        assert_eq!(p.extra["scopes"], "consumer, x");
        assert!(parse_profile(ProfileStyle::Fusio, &json!({"name": "no id"})).is_err());
        assert!(parse_profile(ProfileStyle::Fusio, &json!([1])).is_err());
    }

    #[test]
    fn memento_document_counts_under_every_known_name() {
        let n = |m: Value| parse_mementos(&json!([m]))[0].documents_count;
        assert_eq!(n(json!({"id": 1, "documents_count": 12})), Some(12));
        assert_eq!(n(json!({"id": 1, "document_count": 3})), Some(3));
        assert_eq!(n(json!({"id": 1, "documentsCount": 4})), Some(4));
        assert_eq!(n(json!({"id": 1, "num_documents": "5"})), Some(5));
        assert_eq!(n(json!({"id": 1, "documents": [{"id": 1}, {"id": 2}]})), Some(2));
        assert_eq!(n(json!({"id": 1, "documents": 7})), Some(7));
        assert_eq!(n(json!({"id": 1, "document_count": 0})), Some(0));
        assert_eq!(n(json!({"id": 1})), None);
        assert_eq!(n(json!({"id": 1, "documents_count": "many"})), None);
        assert_eq!(n(json!({"id": 1, "documents_count": -1})), None);
    }

    #[test]
    fn lists_bare_paginated_and_entry() {
        assert_eq!(items(&json!([1, 2])).len(), 2);
        assert_eq!(items(&json!({"results": [1]})).len(), 1);
        assert_eq!(items(&json!({"entry": [1, 2, 3]})).len(), 3);
        assert!(items(&json!({"x": 1})).is_empty());
    }
}
