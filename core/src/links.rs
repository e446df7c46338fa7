//! The link rule for pages the window opens in the browser (a provider's page for connected
//! apps, a sign-in link). Pure, so the app's `open_external` command only adapts it.

use crate::error::{Error, Result};

/// `https` only, so nothing the window shows can start a local program or a `file:` URL.
///
/// # Errors
/// [`Error::InvalidInput`] for anything but an `https` URL.
pub fn external_link(url: &str) -> Result<url::Url> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| Error::InvalidInput("not a link".into()))?;
    if parsed.scheme() != "https" {
        return Err(Error::InvalidInput("only https links are opened".into()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_https_links_are_opened() {
        assert!(super::external_link("https://rememberizer.ai/personal/third-party-apps").is_ok());
        for bad in
            ["http://example.com", "file:///etc/passwd", "app.latchkey:/oauth/callback", "javascript:alert(1)", "x"]
        {
            assert!(super::external_link(bad).is_err(), "{bad}");
        }
    }
}
