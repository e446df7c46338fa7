//! What a launch of the app asks for, read from its arguments — the deep-link argv handler
//! of the desktop shell (`src-tauri/lib.rs`). On Linux and Windows a redirect to
//! `app.latchkey:` arrives as the only argument of a new launch (forwarded to the running
//! instance by the single-instance plugin); a desktop notification's action passes
//! `--show-connection=ID`. A pure function here, so `core/tests/fuzz.rs` fuzzes it.

use crate::connect::flow::MAX_CALLBACK_LEN;

/// The app's URL scheme (tauri.conf.json `plugins.deep-link.desktop.schemes`).
pub const SCHEME: &str = "app.latchkey";
/// The argument that makes the app open a connection's detail (forwarded to the running
/// instance by the single-instance plugin); a desktop notification's action passes it.
pub const SHOW_CONNECTION_ARG: &str = "--show-connection=";
/// Longest connection id accepted from the command line.
const MAX_ID_LEN: usize = 64;

/// What the arguments asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// A redirect to handle (the URL as given; the flow checks everything else).
    pub url: Option<String>,
    /// Connections whose detail to open.
    pub show_connections: Vec<String>,
}

/// Reads `argv` (program name first). A URL counts only as the single argument, with the
/// app's own scheme and within the callback length limit — the rule of the deep-link plugin,
/// so an ordinary argument is never taken for a redirect. `--show-connection=ID` takes ids
/// of letters, digits, `-` and `_` only.
pub fn parse(argv: &[String]) -> Launch {
    let url = match argv {
        [_, only]
            if only.len() <= MAX_CALLBACK_LEN
                && only.get(..=SCHEME.len()).is_some_and(|p| p.eq_ignore_ascii_case(&format!("{SCHEME}:"))) =>
        {
            url::Url::parse(only).ok().filter(|u| u.scheme() == SCHEME).map(|_| only.clone())
        }
        _ => None,
    };
    let show_connections = argv
        .iter()
        .skip(1)
        .filter_map(|a| a.strip_prefix(SHOW_CONNECTION_ARG))
        .filter(|id| {
            !id.is_empty()
                && id.len() <= MAX_ID_LEN
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .collect();
    Launch { url, show_connections }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn picks_the_redirect_and_connection_ids() {
        let cb = "app.latchkey:/oauth/callback?code=c&state=s";
        assert_eq!(parse(&args(&["latchkey", cb])).url.as_deref(), Some(cb));
        assert_eq!(
            parse(&args(&["latchkey", "APP.LATCHKEY:/oauth/callback"])).url.as_deref(),
            Some("APP.LATCHKEY:/oauth/callback")
        );
        assert_eq!(parse(&args(&["latchkey"])), Launch::default());
        assert_eq!(parse(&args(&["latchkey", cb, "--x"])).url, None, "a URL only as the single argument");
        assert_eq!(parse(&args(&["latchkey", "https://evil.example/oauth/callback"])).url, None);
        assert_eq!(parse(&args(&["latchkey", "app.latchkeyx:/oauth/callback"])).url, None);
        let long = format!("app.latchkey:/oauth/callback?code={}", "a".repeat(MAX_CALLBACK_LEN));
        assert_eq!(parse(&[String::from("latchkey"), long]).url, None);
        let l = parse(&args(&[
            "latchkey",
            "--show-connection=3f9c0e5a1b2d4c6e",
            "--show-connection=",
            "--show-connection=a b",
        ]));
        assert_eq!(l.show_connections, vec!["3f9c0e5a1b2d4c6e"]);
        assert_eq!(parse(&args(&["--show-connection=argv0"])).show_connections, Vec::<String>::new());
    }
}
