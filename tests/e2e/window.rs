//! Issue #15, the window measured: axe-core runs inside the real WebKit window on every key
//! screen (list, connect picker, waiting, paste-the-code, detail, settings, provider-app form,
//! revoke dialog, a declined sign-in), in the light and the dark theme, and no serious or
//! critical violation is allowed; connect → detail → revoke is done with the keyboard alone
//! (Tab, Enter, Escape), with a visible focus ring on every element Tab reaches and focus put
//! back sensibly after each dialog; a focused element is never hidden under the sticky top bar.
//! Screenshots: `target/e2e/window-<screen>.png` and `window-<screen>-dark.png`.

use std::path::Path;
use std::time::Instant;

use latchkey_harness::TestProvider;
use serde_json::Value;

use super::webdriver::key;
use super::{ALICE, By, POLL, Scenario, WAIT, World};

/// axe-core's browser build, from the UI's dev dependencies (`npm ci --prefix ui`).
fn axe_source() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (run `npm ci --prefix ui`)", p.display()))
}

/// One theme's walk through the window, with axe's figures per screen.
struct Audit {
    dark: bool,
    axe: String,
    lines: Vec<String>,
}

/// What axe returns, cut to what the test prints and checks.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] }).then(
  (r) => done({
    violations: r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
      targets: v.nodes.slice(0, 4).map((n) => n.target.join(' ') + ' :: ' + (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 200)),
    })),
    passes: r.passes.length,
    incomplete: r.incomplete.length,
  }),
  (e) => done({ error: String(e) }),
);
"#;

/// Whether the focused element shows a focus ring (an outline of at least 1 px that is not
/// `none`) and matches `:focus-visible`; with a description of it.
const FOCUS_RING: &str = r#"
const el = document.activeElement;
if (!el || el === document.body) return { ok: false, what: 'nothing focused' };
const cs = getComputedStyle(el);
const ring = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 1;
const what = el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).trim().split(/\s+/).join('.') : '')
  + ' "' + (el.getAttribute('aria-label') || el.textContent || '').trim().slice(0, 40) + '"';
return { ok: ring && el.matches(':focus-visible'), what, outline: cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor };
"#;

impl Audit {
    fn suffix(&self) -> &'static str {
        if self.dark { "-dark" } else { "" }
    }

    /// Runs axe on the page as it is, prints the rule counts, saves the screenshot, and fails
    /// the scenario on a serious or critical violation.
    async fn check(&mut self, sc: &Scenario<'_>, screen: &str) {
        sc.shot(&format!("{screen}{}", self.suffix())).await;
        if sc.script_bool("return typeof window.axe === 'object'").await.is_none() {
            let r = sc.wd.execute(&self.axe, vec![]).await;
            sc.ok("inject axe-core", r).await;
        }
        let r = sc.wd.execute_async(RUN_AXE, vec![]).await;
        let v = sc.ok("run axe-core", r).await;
        if let Some(e) = v.get("error") {
            sc.fail::<()>(&format!("axe-core failed on {screen}: {e}")).await;
        }
        let violations = v["violations"].as_array().cloned().unwrap_or_default();
        let grave: Vec<&Value> =
            violations.iter().filter(|x| matches!(x["impact"].as_str(), Some("serious" | "critical"))).collect();
        let rules: Vec<String> = violations
            .iter()
            .map(|x| {
                format!("{}[{}]×{}", x["id"].as_str().unwrap_or("?"), x["impact"].as_str().unwrap_or("?"), x["nodes"])
            })
            .collect();
        let line = format!(
            "axe {:<5} {:<14} violations {:>2} (serious/critical {:>1})  passed rules {:>3}  incomplete {:>2}  {}",
            if self.dark { "dark" } else { "light" },
            screen,
            violations.len(),
            grave.len(),
            v["passes"],
            v["incomplete"],
            rules.join(" ")
        );
        println!("{line}");
        self.lines.push(line);
        if !grave.is_empty() {
            let detail = serde_json::to_string_pretty(&grave).unwrap_or_default();
            sc.fail::<()>(&format!("axe-core: serious/critical violations on `{screen}`:\n{detail}")).await;
        }
    }
}

impl Scenario<'_> {
    /// Presses `keys` (with `held` down meanwhile) as a keyboard does.
    async fn keys(&self, held: Option<&str>, keys: &[&str]) {
        let r = self.wd.press(held, keys).await;
        self.ok("press keys", r).await;
    }

    /// The focused element's ring check (see [`FOCUS_RING`]).
    async fn focus_ring(&self) -> Value {
        let r = self.wd.execute(FOCUS_RING, vec![]).await;
        self.ok("read the focus", r).await
    }

    /// Presses Tab until the focused element's visible text (or label) is `text`; every element
    /// Tab reaches on the way must show a focus ring.
    async fn tab_to(&self, text: &str) {
        for _ in 0..25 {
            self.keys(None, &[key::TAB]).await;
            let f = self.focus_ring().await;
            if f["ok"] != Value::Bool(true) {
                self.fail::<()>(&format!("Tab reached an element without a visible focus ring: {f}")).await;
            }
            let what = f["what"].as_str().unwrap_or_default();
            if what.ends_with(&format!("\"{text}\"")) {
                return;
            }
        }
        self.fail::<()>(&format!("Tab never reached {text:?}")).await;
    }

    /// Fails unless the focused element matches the CSS selector `sel` (and, if given, has
    /// the text `text`).
    async fn assert_focus(&self, sel: &str, text: Option<&str>, why: &str) {
        let script = "const el = document.activeElement; \
                      return !!el && el.matches(arguments[0]) && \
                      (arguments[1] === null || (el.getAttribute('aria-label') || el.textContent).trim() === arguments[1]);";
        let ok = eventually!(self, format!("focus on {sel} {text:?} ({why})"), {
            match self.wd.execute(script, vec![sel.into(), text.map_or(Value::Null, Into::into)]).await {
                Ok(Value::Bool(true)) => Some(true),
                _ => None,
            }
        });
        assert!(ok);
    }

    /// Fills and saves the provider-app form for the test provider (TextMaster preset, base URL
    /// under Advanced), auditing it first.
    async fn fill_app_form(&self, audit: Option<&mut Audit>, provider: &TestProvider, name: &str, mode: &str) {
        self.select("app-preset", "textmaster").await;
        self.fill("app-name", name).await;
        self.click(By::XPath("//summary[normalize-space()='Advanced']")).await;
        self.fill("app-base-url", &provider.url).await;
        self.fill("app-client-id", &provider.client_id).await;
        self.fill("app-client-secret", &provider.client_secret).await;
        self.fill("app-scopes", "public user:read user:email").await;
        self.select("app-redirect-mode", mode).await;
        if let Some(a) = audit {
            a.check(self, "app-form").await;
        }
        self.click_button("Save").await;
        self.find(By::XPath("//label[contains(@class,'app-choice') and contains(@class,'selected')]")).await;
    }

    /// Waits for the app to open a sign-in URL after `before` were opened; returns it.
    async fn next_opened_url(&self, before: usize) -> String {
        eventually!(self, "the app to open the sign-in URL", self.opened_urls().get(before).cloned())
    }

    async fn rows(&self) -> usize {
        self.wd.find_all(By::Css("li.connection-row")).await.map(|v| v.len()).unwrap_or(0)
    }
}

/// The window in the light theme and in the dark one.
pub async fn accessible_in_both_themes(world: &World) {
    let light = walk(world, false).await;
    let dark = walk(world, true).await;
    println!("e2e: axe-core figures per screen (0 serious/critical allowed):");
    for l in light.iter().chain(&dark) {
        println!("  {l}");
    }
}

async fn walk(world: &World, dark: bool) -> Vec<String> {
    let provider = TestProvider::start("textmaster");
    // WebKitGTK follows the GTK theme for prefers-color-scheme.
    let gtk = if dark { "Adwaita:dark" } else { "Adwaita" };
    let sc = Scenario::start_full(world, "window", &[("GTK_THEME", gtk)], |_| {}).await;
    let mut audit = Audit { dark, axe: axe_source(), lines: vec![] };
    let system_dark = sc.script_bool("return matchMedia('(prefers-color-scheme: dark)').matches").await.is_some();
    if dark && !system_dark {
        // The system's dark preference did not reach WebKit here: choose Dark in Settings.
        println!("e2e: GTK_THEME=Adwaita:dark did not reach prefers-color-scheme; choosing Theme: Dark in Settings");
        sc.click_button("Settings").await;
        sc.select("theme", "dark").await;
        sc.click_button("Back to connections").await;
    } else if dark {
        println!("e2e: the window follows the system's dark theme (GTK_THEME=Adwaita:dark)");
    }
    let expect_bg = if dark { "rgb(27, 27, 31)" } else { "rgb(246, 246, 248)" };
    let bg = sc.wd.execute("return getComputedStyle(document.body).backgroundColor", vec![]).await;
    let bg = sc.ok("background", bg).await;
    if bg != expect_bg {
        sc.fail::<()>(&format!(
            "the {} theme's background is {bg}, not {expect_bg}",
            if dark { "dark" } else { "light" }
        ))
        .await;
    }

    // The empty list, the provider-app form, then a second app (paste the code) from the picker.
    sc.find_with_text(By::Css("main"), &["No accounts connected yet"]).await;
    audit.check(&sc, "list-empty").await;
    sc.click_button("Connect account").await;
    sc.find(By::Css("#app-preset")).await;
    sc.fill_app_form(Some(&mut audit), &provider, "TextMaster", "deep_link").await;
    sc.click_button("Add a provider app").await;
    sc.find(By::Css("#app-preset")).await;
    sc.fill_app_form(None, &provider, "TextMaster (paste)", "paste").await;
    // Two apps at one server: told apart, and the name is never repeated beside the preset.
    let host = provider.url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let (picker, text) = sc.find_with_text(By::Css("[role=dialog]"), &["TextMaster (paste)", &host]).await;
    let _ = picker;
    assert!(!text.contains("TextMaster · TextMaster"), "the picker repeats the name: {text}");
    audit.check(&sc, "picker").await;

    // Sign in with the first app and decline at the provider: the hint says so.
    sc.click(By::XPath("//label[contains(@class,'app-choice')][.//span[normalize-space()='TextMaster']]")).await;
    let url = sc.continue_to_sign_in().await;
    sc.find_with_text(By::Css("[role=dialog]"), &["Waiting for your browser"]).await;
    audit.check(&sc, "waiting").await;
    let declined = provider.sign_in(&url, "alice", false).await;
    assert_eq!(declined["error"], "access_denied", "{declined}");
    sc.second_launch(declined["location"].as_str().expect("redirect")).await;
    let (_, text) =
        sc.find_with_text(By::Css("[role=dialog]"), &["You declined", "Try again when you are ready"]).await;
    assert!(!text.contains("client id"), "a declined consent is not the app's credentials: {text}");
    audit.check(&sc, "error").await;

    // Try again, allow: connected.
    let before = sc.opened_urls().len();
    sc.click_button("Try again").await;
    let url = sc.next_opened_url(before).await;
    let answer = provider.sign_in(&url, "alice", true).await;
    sc.second_launch(answer["location"].as_str().expect("redirect")).await;
    let id = sc.wait_for_row(&ALICE).await;
    sc.find_with_text(By::Css("li.connection-row"), &[&host]).await;
    audit.check(&sc, "list").await;

    // Paste the code with the second app.
    sc.click_button("Connect account").await;
    sc.click(By::XPath("//label[contains(@class,'app-choice')][.//span[normalize-space()='TextMaster (paste)']]"))
        .await;
    let url = sc.continue_to_sign_in().await;
    sc.find(By::Css("#paste-code")).await;
    audit.check(&sc, "paste").await;
    let answer = provider.sign_in(&url, "alice", true).await;
    sc.fill("paste-code", answer["code"].as_str().expect("code")).await;
    sc.click_button("Submit").await;
    eventually!(sc, "two rows", (sc.rows().await == 2).then_some(()));

    // The detail; on a long page a focused element stays below the sticky top bar.
    sc.open_detail(&id, &["Permissions", "Recent refreshes"]).await;
    audit.check(&sc, "detail").await;
    // At the end of a long detail, "← Connections" is still there below the sticky top bar —
    // visible, not covered — and Shift+Tab from the heading reaches it in view.
    let r = sc
        .wd
        .execute(
            "const spacer = document.createElement('div'); spacer.id = 'e2e-spacer'; spacer.style.height = '3000px'; \
             document.querySelector('.detail').append(spacer); \
             window.scrollTo(0, document.body.scrollHeight); \
             document.querySelector('#detail-title').focus({ preventScroll: true }); \
             return window.scrollY;",
            vec![],
        )
        .await;
    let scrolled = sc.ok("scroll a long detail to its end", r).await;
    let where_is_back = "const back = document.querySelector('.detail .back'); \
         const bar = document.querySelector('.topbar').getBoundingClientRect(); \
         const r = back.getBoundingClientRect(); \
         const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2); \
         return { focused: document.activeElement === back, top: r.top, bottom: r.bottom, bar: bar.bottom, \
                  uncovered: hit === back, scrollY: window.scrollY };";
    let visible = |r: &Value| {
        r["uncovered"] == Value::Bool(true)
            && r["top"].as_f64().unwrap_or(-1.0) >= r["bar"].as_f64().unwrap_or(f64::MAX)
            && r["scrollY"].as_f64().unwrap_or(0.0) > 1000.0
    };
    let r = sc.wd.execute(where_is_back, vec![]).await;
    let r = sc.ok("where the back link is", r).await;
    println!("e2e: ← Connections at the end of a long detail (scrolled to {scrolled}): {r}");
    if !visible(&r) {
        sc.fail::<()>(&format!("at the end of a long detail ← Connections is under the sticky top bar: {r}")).await;
    }
    sc.shot(&format!("detail-long-end{}", audit.suffix())).await;
    sc.keys(Some(key::SHIFT), &[key::TAB]).await;
    let r = sc.wd.execute(where_is_back, vec![]).await;
    let r = sc.ok("where the focused back link is", r).await;
    if r["focused"] != Value::Bool(true) || r["top"].as_f64().unwrap_or(-1.0) < r["bar"].as_f64().unwrap_or(f64::MAX) {
        sc.fail::<()>(&format!("Shift+Tab to ← Connections left it under the top bar: {r}")).await;
    }
    let _ = sc.wd.execute("document.getElementById('e2e-spacer').remove()", vec![]).await;
    let _ = sc.wd.execute("window.scrollTo(0, 0)", vec![]).await;

    // Settings and the revoke dialog: it says before the click what happens at this provider.
    sc.click_button("Settings").await;
    sc.find_with_text(By::Css("main"), &["Refresh this many seconds", "Theme"]).await;
    let _ = sc.wd.execute("window.scrollTo(0, 0)", vec![]).await;
    audit.check(&sc, "settings").await;
    sc.click(By::XPath("(//button[@aria-label='Revoke Alice Example'])[1]")).await;
    let (_, text) = sc.find_with_text(By::Css("[role=dialog]"), &["Anything using this connection"]).await;
    let honest = text.contains("offers apps no way to revoke") || text.contains("may not be offered");
    assert!(
        honest,
        "the test provider's TextMaster app has no documented revocation, and the dialog must say so: {text}"
    );
    audit.check(&sc, "revoke-dialog").await;
    // Escape closes it; focus goes back to the button that opened it.
    sc.keys(None, &[key::ESCAPE]).await;
    eventually!(sc, "the dialog to close", sc.try_find(By::Css("[role=dialog]")).await.is_none().then_some(()));
    sc.assert_focus("button", Some("Revoke Alice Example"), "after Escape").await;
    sc.click_button("Back to connections").await;

    if !dark {
        keyboard_only(&sc, &provider, &id).await;
    }
    sc.finish().await;
    audit.lines
}

/// Connect → detail → revoke with Tab, Enter, Space and Escape only.
async fn keyboard_only(sc: &Scenario<'_>, provider: &TestProvider, id: &str) {
    let t0 = std::time::Instant::now();
    // From the top of the list: Tab reaches Connect account first.
    let _ =
        sc.wd.execute("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)", vec![]).await;
    sc.tab_to("Connect account").await;
    sc.keys(None, &[key::ENTER]).await;
    // The picker: focus is on the first app's radio; Space chooses it, Tab reaches Continue.
    sc.find(By::Css("[role=dialog] input[type=radio]")).await;
    sc.assert_focus("input[type=radio]", None, "the picker opens on its first choice").await;
    sc.keys(None, &[key::SPACE]).await;
    sc.tab_to("Continue").await;
    let before = sc.opened_urls().len();
    sc.keys(None, &[key::ENTER]).await;
    let url = sc.next_opened_url(before).await;
    sc.find_with_text(By::Css("[role=dialog]"), &["Waiting for your browser"]).await;
    sc.assert_focus("button", Some("Cancel"), "the waiting panel focuses Cancel").await;
    let answer = provider.sign_in(&url, "alice", true).await;
    sc.second_launch(answer["location"].as_str().expect("redirect")).await;
    eventually!(sc, "the dialog to close", sc.try_find(By::Css("[role=dialog]")).await.is_none().then_some(()));
    // The same account again: its row, focused.
    let row = format!("li.connection-row[data-connection-id='{id}'] button.row-main");
    sc.assert_focus(&row, None, "the connected row").await;
    sc.shot("keyboard-connected").await;

    // Enter opens the detail; Tab reaches Revoke with a visible ring on the way.
    sc.keys(None, &[key::ENTER]).await;
    sc.find_with_text(By::Css("main"), &["Permissions"]).await;
    sc.assert_focus("h2#detail-title", None, "the detail focuses its heading").await;
    sc.tab_to("Revoke").await;
    sc.shot("keyboard-detail-revoke-focused").await;
    sc.keys(None, &[key::ENTER]).await;
    sc.find(By::Css("[role=dialog]")).await;
    sc.assert_focus("button", Some("Cancel"), "the revoke dialog focuses Cancel").await;
    sc.keys(None, &[key::ESCAPE]).await;
    eventually!(sc, "the dialog to close", sc.try_find(By::Css("[role=dialog]")).await.is_none().then_some(()));
    sc.assert_focus("button.btn-danger", Some("Revoke"), "Escape returns focus to Revoke").await;
    // Again, and confirm with Tab + Enter.
    sc.keys(None, &[key::ENTER]).await;
    sc.find(By::Css("[role=dialog]")).await;
    sc.keys(None, &[key::TAB]).await;
    sc.assert_focus("button.btn-danger-solid", None, "Tab from Cancel reaches the confirmation").await;
    let ring = sc.focus_ring().await;
    assert_eq!(ring["ok"], Value::Bool(true), "focus ring on the confirmation: {ring}");
    sc.keys(None, &[key::ENTER]).await;
    // Revoked at the provider (the dialog closes at once), or removed here only where the tried
    // endpoint is not offered (the result stays, with Close focused).
    eventually!(sc, "the revoke to finish", {
        match sc.try_find(By::Css("[role=dialog]")).await {
            None => Some(()),
            Some(_) => sc.try_find_with_text(By::Css("[role=dialog]"), &["Removed from Latchkey"]).await.map(|_| ()),
        }
    });
    if sc.try_find(By::Css("[role=dialog]")).await.is_some() {
        sc.shot("keyboard-revoke-result").await;
        sc.assert_focus("button", Some("Close"), "the result focuses Close").await;
        sc.keys(None, &[key::ENTER]).await;
        eventually!(sc, "the dialog to close", sc.try_find(By::Css("[role=dialog]")).await.is_none().then_some(()));
    }
    // The detail is gone with the connection: focus lands on the list, not nowhere.
    eventually!(sc, "one row left", (sc.rows().await == 1).then_some(()));
    sc.assert_focus("button.row-main", None, "after the revoke, the remaining row").await;
    sc.shot("keyboard-revoked").await;
    println!("e2e: keyboard-only connect → detail → revoke in {:.1} s", t0.elapsed().as_secs_f64());
}
