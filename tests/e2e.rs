//! End-to-end tests of the real app window: tauri-driver + WebKitWebDriver under a private
//! Xvfb, the real test provider on loopback, a real Secret Service (gnome-keyring in a
//! private D-Bus session). The test plays the browser: it reads the authorize URL the app
//! "opened" (`LATCHKEY_OPEN_URL_LOG`), signs in at the provider, and delivers the redirect the
//! way Linux does — by launching the app binary a second time with the URL (single-instance
//! forwards it over the session bus), by an HTTP request to the loopback listener, or by
//! typing the code into the window.
//!
//! The app is single-instance per session bus, so the scenarios run one after another in one
//! `#[test]`, each with a fresh data directory, keychain service and HOME. Screenshots of the
//! key screens go to `target/e2e/<scenario>-<step>.png` (and `-failure.png` on a failure).
//!
//! Needs: `tauri-driver` (`cargo install tauri-driver --locked`), `WebKitWebDriver`
//! (webkit2gtk-driver), Xvfb, dbus-x11, gnome-keyring, and the built UI (`ui/dist`); `make e2e`.

#[path = "e2e/procs.rs"]
mod procs;
#[path = "e2e/webdriver.rs"]
mod webdriver;

use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use latchkey_harness::{TestProvider, query, secret_service, temp_dir};
use procs::{TauriDriver, Xvfb, second_launch};
use serde_json::{Value, json};
use webdriver::{By, Element, Session, WdResult};

/// How long any single UI condition may take to become true.
const WAIT: Duration = Duration::from_secs(20);
/// How often conditions are polled.
const POLL: Duration = Duration::from_millis(100);

/// The app binary cargo built for this test.
fn app_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_latchkey"))
}

/// `target/e2e`, beside the binary's profile directory.
fn shots_dir() -> PathBuf {
    let exe = app_exe();
    let target = exe.parent().and_then(Path::parent).expect("target dir");
    let d = target.join("e2e");
    std::fs::create_dir_all(&d).expect("target/e2e");
    d
}

/// What every scenario shares: the X server and the session bus with its keychain.
#[derive(Debug)]
struct World {
    xvfb: Xvfb,
    bus_env: Vec<(String, String)>,
    shots: PathBuf,
}

impl World {
    fn start() -> Self {
        let xvfb = Xvfb::start();
        let bus_env = secret_service().env.clone();
        let shots = shots_dir();
        for e in std::fs::read_dir(&shots).expect("shots dir").flatten() {
            if e.path().extension().is_some_and(|x| x == "png") {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Self { xvfb, bus_env, shots }
    }
}

/// Polls `$cond` (an expression giving `Option<T>`) until it is `Some`, or fails the scenario
/// with a screenshot and the page text after [`WAIT`].
macro_rules! eventually {
    ($sc:expr, $what:expr, $cond:expr) => {{
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(v) = $cond {
                break v;
            }
            if Instant::now() > deadline {
                $sc.fail::<()>(&format!("timed out after {:?} waiting for {}", WAIT, $what)).await;
            }
            tokio::time::sleep(POLL).await;
        }
    }};
}

// After `eventually!`, which it uses.
#[path = "e2e/window.rs"]
mod window;

/// One scenario: a fresh app (data directory, keychain service, HOME) in a WebDriver session.
struct Scenario<'w> {
    name: &'static str,
    world: &'w World,
    dir: PathBuf,
    env: Vec<(String, String)>,
    open_url_log: PathBuf,
    wd: Session,
    driver: TauriDriver,
    started: Instant,
}

impl<'w> Scenario<'w> {
    async fn start(world: &'w World, name: &'static str) -> Scenario<'w> {
        Self::start_prepared(world, name, |_| {}).await
    }

    /// Like [`Scenario::start`], with `prepare` run on the data directory before the app starts.
    async fn start_prepared(world: &'w World, name: &'static str, prepare: impl FnOnce(&Path)) -> Scenario<'w> {
        Self::start_full(world, name, &[], prepare).await
    }

    /// Like [`Scenario::start_prepared`], with `extra` in the app's environment.
    async fn start_full(
        world: &'w World,
        name: &'static str,
        extra: &[(&str, &str)],
        prepare: impl FnOnce(&Path),
    ) -> Scenario<'w> {
        let started = Instant::now();
        let dir = temp_dir(&format!("e2e-{name}"));
        let home = dir.join("home");
        for d in ["data", "home/.local/share", "home/.config", "home/.cache"] {
            std::fs::create_dir_all(dir.join(d)).expect("scenario dirs");
        }
        prepare(&dir.join("data"));
        let open_url_log = dir.join("opened-urls.log");
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let mut env: Vec<(String, String)> = world.bus_env.clone();
        env.extend(
            [
                ("DISPLAY", world.xvfb.display.clone()),
                // Xvfb even when the test runs inside a Wayland desktop.
                ("GDK_BACKEND", "x11".into()),
                ("NO_AT_BRIDGE", "1".into()),
                ("HOME", s(&home)),
                ("XDG_DATA_HOME", s(&home.join(".local/share"))),
                ("XDG_CONFIG_HOME", s(&home.join(".config"))),
                ("XDG_CACHE_HOME", s(&home.join(".cache"))),
                ("LATCHKEY_DATA_DIR", s(&dir.join("data"))),
                (
                    "LATCHKEY_KEYRING_SERVICE",
                    format!("app.latchkey.e2e.{}", dir.file_name().unwrap().to_string_lossy()),
                ),
                ("LATCHKEY_OPEN_URL_LOG", s(&open_url_log)),
                // The scenarios' tokens live 6 seconds.
                ("LATCHKEY_MIN_REFRESH_INTERVAL_SECS", "2".into()),
                ("LATCHKEY_NO_SCHEME_REGISTRATION", "1".into()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let marker = ("LATCHKEY_DATA_DIR".to_owned(), s(&dir.join("data")));
        assert!(procs::marked_pids(&marker).is_empty());
        // The previous scenario's app must have left the bus: while its single-instance name is
        // owned, a new app would hand its arguments over and exit.
        let deadline = Instant::now() + Duration::from_secs(15);
        while single_instance_owned(&env) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A loaded machine can make the first session attempt fail: try a fresh driver again.
        let mut attempt = 0;
        let (driver, wd) = loop {
            attempt += 1;
            let driver = TauriDriver::start(&env, &dir.join("driver.log"), marker.clone());
            let caps = json!({"tauri:options": {"application": app_exe().to_string_lossy()}});
            match Session::new(&driver.url, caps).await {
                Ok(wd) => break (driver, wd),
                Err(e) if attempt < 3 => {
                    eprintln!("[{name}] WebDriver session attempt {attempt} failed ({e}); retrying");
                    drop(driver);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => {
                    panic!("[{name}] cannot create a WebDriver session: {e}; see {}", dir.join("driver.log").display())
                }
            }
        };
        let sc = Scenario { name, world, dir, env, open_url_log, wd, driver, started };
        eventually!(
            sc,
            "the first render (body[data-ready=1])",
            sc.script_bool("return document.body.dataset.ready === '1'").await
        );
        // The first state came from the request index.html sends before the bundle runs (its
        // inline script is allowed by the hash the build puts in the CSP).
        assert!(
            sc.script_bool("return document.body.dataset.firstState === 'early'").await == Some(true),
            "[{}] the window asked for its first state itself, not from index.html",
            sc.name
        );
        sc
    }

    /// Ends the session, stops the app and prints how long the scenario took.
    async fn finish(mut self) {
        let _ = self.wd.delete().await;
        self.driver.stop();
        assert!(self.driver.marked_pids().is_empty(), "[{}] processes left behind", self.name);
        println!("e2e scenario {:<22} {:>6.1} s", self.name, self.started.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    // -- failing and screenshots -----------------------------------------------------------

    /// Saves `target/e2e/<scenario>-<step>.png`.
    async fn shot(&self, step: &str) {
        let path = self.world.shots.join(format!("{}-{step}.png", self.name));
        // WebKit's snapshot is the last frame it painted, which can lag several steps behind
        // the DOM: let two frames pass first.
        let _ = self
            .wd
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        match self.wd.screenshot().await {
            Ok(png) if !png.is_empty() => std::fs::write(&path, png).expect("write screenshot"),
            // WebDriver could not: photograph the whole X screen instead.
            _ => {
                let _ = std::process::Command::new("/usr/bin/import")
                    .args(["-display", &self.world.xvfb.display, "-window", "root"])
                    .arg(&path)
                    .status();
            }
        }
    }

    /// Fails the scenario with a screenshot, the page's text, the driver's log and the app's.
    async fn fail<T>(&self, why: &str) -> T {
        self.shot("failure").await;
        let text = self
            .wd
            .execute("return document.body ? document.body.innerText : ''", vec![])
            .await
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|e| format!("(page text unavailable: {e})"));
        let tail = |path: PathBuf| {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            log.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        let (driver_log, app_log) = (tail(self.dir.join("driver.log")), tail(self.dir.join("data/logs/latchkey.log")));
        panic!(
            "[{}] {why}\n--- page text ---\n{text}\n--- driver log (tail) ---\n{driver_log}\n--- app log (tail) ---\n{app_log}\n--- screenshot: {}",
            self.name,
            self.world.shots.join(format!("{}-failure.png", self.name)).display()
        );
    }

    /// Unwraps a WebDriver result or fails the scenario.
    async fn ok<T>(&self, what: &str, r: WdResult<T>) -> T {
        match r {
            Ok(v) => v,
            Err(e) => self.fail(&format!("{what}: {e}")).await,
        }
    }

    // -- queries -------------------------------------------------------------------------

    async fn script_bool(&self, script: &str) -> Option<bool> {
        matches!(self.wd.execute(script, vec![]).await, Ok(Value::Bool(true))).then_some(true)
    }

    /// The first *displayed* element matching `by`, if any.
    async fn try_find(&self, by: By<'_>) -> Option<Element> {
        for el in self.wd.find_all(by).await.ok()? {
            if self.wd.is_displayed(&el).await.unwrap_or(false) {
                return Some(el);
            }
        }
        None
    }

    /// Waits for a displayed element matching `by`.
    async fn find(&self, by: By<'_>) -> Element {
        eventually!(self, by, self.try_find(by).await)
    }

    /// The element's `innerText`: what a user reads. (WebDriver's own element text leaves out
    /// text in `overflow: hidden` + ellipsis boxes, such as a row's name and email.)
    async fn inner_text(&self, el: &Element) -> WdResult<String> {
        let v = self.wd.execute("return arguments[0].innerText", vec![el.arg()]).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// A displayed element matching `by` whose text contains every one of `texts`.
    async fn try_find_with_text(&self, by: By<'_>, texts: &[&str]) -> Option<(Element, String)> {
        for el in self.wd.find_all(by).await.ok()? {
            let Ok(t) = self.inner_text(&el).await else { continue };
            if texts.iter().all(|x| t.contains(x)) {
                return Some((el, t));
            }
        }
        None
    }

    async fn find_with_text(&self, by: By<'_>, texts: &[&str]) -> (Element, String) {
        eventually!(self, format!("{by} showing {texts:?}"), self.try_find_with_text(by, texts).await)
    }

    // -- actions ---------------------------------------------------------------------------

    /// Clicks a displayed element matching `by`, retrying while it is missing, stale (the UI
    /// re-rendered) or covered.
    async fn click(&self, by: By<'_>) {
        eventually!(self, format!("a clickable {by}"), {
            match self.try_find(by).await {
                Some(el) => self.wd.click(&el).await.ok(),
                None => None,
            }
        })
    }

    /// Clicks the button whose visible text is `text`.
    async fn click_button(&self, text: &str) {
        let xp = format!("//button[normalize-space()='{text}'] | //button[@aria-label='{text}']");
        self.click(By::XPath(&xp)).await;
    }

    /// Replaces the text of the input `#id`.
    async fn fill(&self, id: &str, text: &str) {
        let sel = format!("#{id}");
        let el = self.find(By::Css(&sel)).await;
        let r = self.wd.clear(&el).await;
        self.ok(&format!("clear {sel}"), r).await;
        let r = self.wd.send_keys(&el, text).await;
        self.ok(&format!("type into {sel}"), r).await;
        let value = self.value(&el).await;
        if value != text {
            self.fail::<()>(&format!("{sel} holds {value:?} after typing {text:?}")).await;
        }
    }

    /// Picks the option `value` of the select `#id` by clicking it, as a user would.
    async fn select(&self, id: &str, value: &str) {
        let sel = format!("#{id}");
        let select = self.find(By::Css(&sel)).await;
        let opt = format!("#{id} option[value='{value}']");
        let option = self.find_present(By::Css(&opt)).await;
        let r = self.wd.click(&option).await;
        self.ok(&format!("click {opt}"), r).await;
        let now = self.value(&select).await;
        if now != value {
            self.fail::<()>(&format!("{sel} is {now:?} after choosing {value:?}")).await;
        }
    }

    /// Waits for an element matching `by`, displayed or not (e.g. an `<option>`).
    async fn find_present(&self, by: By<'_>) -> Element {
        eventually!(self, by, self.wd.find(by).await.ok())
    }

    /// The current `value` of an input or select.
    async fn value(&self, el: &Element) -> String {
        let r = self.wd.property(el, "value").await;
        self.ok("read value", r).await.as_str().unwrap_or_default().to_owned()
    }

    /// The URLs the app asked to open in the browser so far.
    fn opened_urls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.open_url_log).unwrap_or_default().lines().map(str::to_owned).collect()
    }

    /// Delivers `url` as Linux does: a second launch of the binary, which forwards it over the
    /// session bus to this scenario's app and exits.
    async fn second_launch(&self, url: &str) {
        let exe = app_exe();
        let env = self.env.clone();
        let log = self.dir.join("second-launch.log");
        let url = url.to_owned();
        let st = tokio::task::spawn_blocking(move || second_launch(&exe, &url, &env, &log)).await.expect("join");
        // A second launch that dies of SIGSEGV while exiting, after handing its URL over, is a
        // known rare crash of the launcher's exit path (about 1 in 150 launches here, since before
        // #16; see hostile-links). Said loudly, not failed on: the scenario's next step checks
        // that the running app got the URL (a row, a notice, a dialog's text).
        if std::os::unix::process::ExitStatusExt::signal(&st) == Some(11) {
            eprintln!("[{}] warning: the second launch exited with {st}; checking that the app got its URL", self.name);
            return;
        }
        if !st.success() {
            let log = std::fs::read_to_string(self.dir.join("second-launch.log")).unwrap_or_default();
            self.fail::<()>(&format!("the second launch exited with {st}:\n{log}")).await;
        }
    }

    // -- steps -------------------------------------------------------------------------------

    /// Opens the connect dialog; with no provider app yet it shows the add-app form directly,
    /// otherwise the picker, where "Add a provider app" leads to the form.
    async fn open_add_app_form(&self) {
        self.click_button("Connect account").await;
        eventually!(self, "the connect dialog", {
            if self.try_find(By::Css("#app-preset")).await.is_some() {
                Some(())
            } else if let Some(b) = self.try_find(By::XPath("//button[normalize-space()='Add a provider app']")).await {
                let _ = self.wd.click(&b).await;
                None
            } else {
                None
            }
        });
    }

    /// Fills and saves the add-app form (which must be open) for the provider's preset; the
    /// dialog then shows the picker with the new app chosen.
    async fn add_app(&self, provider: &TestProvider, app: &AppSpec<'_>) {
        self.select("app-preset", app.preset).await;
        if app.base_url_in_advanced {
            self.click(By::XPath("//summary[normalize-space()='Advanced']")).await;
        }
        self.fill("app-base-url", &provider.url).await;
        self.fill("app-client-id", &provider.client_id).await;
        self.fill("app-client-secret", &provider.client_secret).await;
        self.fill("app-scopes", app.scopes).await;
        self.select("app-redirect-mode", app.mode).await;
        self.shot("app-form").await;
        self.click_button("Save").await;
        // The picker, with the saved app selected.
        let name_xp = "//label[contains(@class,'app-choice') and contains(@class,'selected')]";
        self.find(By::XPath(name_xp)).await;
    }

    /// Presses Continue in the picker and waits for the waiting panel's sign-in link; checks it
    /// is the URL the app opened in the "browser", and returns it.
    async fn continue_to_sign_in(&self) -> String {
        let before = self.opened_urls().len();
        self.click_button("Continue").await;
        let field = self.find(By::Css("#authorize-url")).await;
        let shown = self.value(&field).await;
        let opened = eventually!(self, "the app to open the sign-in URL", self.opened_urls().get(before).cloned());
        if shown != opened {
            self.fail::<()>(&format!("the waiting panel shows {shown:?} but the app opened {opened:?}")).await;
        }
        shown
    }

    /// Waits until a connection row shows `texts`; returns its connection id.
    async fn wait_for_row(&self, texts: &[&str]) -> String {
        let (row, _) = self.find_with_text(By::Css("li.connection-row"), texts).await;
        let id = self.wd.attribute(&row, "data-connection-id").await;
        let id = self.ok("row id", id).await.unwrap_or_default();
        // The connect dialog closed.
        eventually!(
            self,
            "the dialog to close",
            self.wd.find_all(By::Css("#authorize-url")).await.ok().filter(Vec::is_empty)
        );
        id
    }

    /// From the picker with an app chosen: Continue, play the browser (sign in as `login` and
    /// allow access), hand the answer back the way the app's redirect `mode` works, and wait for
    /// the row showing `row`. Returns the authorize URL and the connection id.
    async fn connect_and_wait(
        &self,
        provider: &TestProvider,
        mode: &str,
        login: &str,
        row: &[&str],
    ) -> (String, String) {
        let url = self.continue_to_sign_in().await;
        if mode != "paste" {
            self.find_with_text(By::Css("[role=dialog]"), &["Waiting for your browser"]).await;
        }
        self.shot("waiting").await;
        let answer = provider.sign_in(&url, login, true).await;
        let location = || answer["location"].as_str().unwrap_or_else(|| panic!("sign-in gave no redirect: {answer}"));
        match mode {
            // Linux hands a custom-scheme redirect to a second launch of the app.
            "deep_link" => {
                let redirect = query(&url, "redirect_uri").unwrap_or_default();
                assert!(redirect.starts_with("app.latchkey:/oauth/callback/"), "its own path: {url}");
                assert!(location().starts_with(&format!("{redirect}?")), "{answer}");
                self.second_launch(location()).await;
            }
            // The browser follows the redirect to the app's loopback listener.
            "loopback" => {
                let redirect = query(&url, "redirect_uri").unwrap_or_default();
                assert!(location().starts_with(&redirect), "{answer}");
                let page = latchkey_harness::client().get(location()).send().await.expect("loopback request");
                assert_eq!(page.status(), 200, "the loopback listener's answer");
            }
            // The provider shows a code; the user pastes it.
            "paste" => {
                let code = answer["code"].as_str().unwrap_or_else(|| panic!("the code page showed no code: {answer}"));
                self.fill("paste-code", code).await;
                self.shot("code-pasted").await;
                self.click_button("Submit").await;
            }
            other => panic!("unknown redirect mode {other}"),
        }
        let id = self.wait_for_row(row).await;
        self.shot("connected").await;
        (url, id)
    }
}

impl Scenario<'_> {
    /// The keychain the app of this scenario writes to (the test shares its Secret Service).
    fn vault(&self) -> latchkey_core::vault::KeyringVault {
        let service = self.env.iter().find(|(k, _)| k == "LATCHKEY_KEYRING_SERVICE").map(|(_, v)| v.clone());
        latchkey_core::vault::KeyringVault::new(service.expect("keyring service"))
    }

    /// The token set the app stored for a connection.
    fn stored_tokens(&self, id: &str) -> Option<latchkey_core::token::TokenSet> {
        use latchkey_core::vault::Vault;
        let v = self.vault().get(&latchkey_core::vault::connection_key(id)).expect("keychain");
        v.map(|s| latchkey_core::token::TokenSet::from_vault_string(&s).expect("token set"))
    }

    /// Opens a connection's detail from the list and waits for `texts` in it.
    async fn open_detail(&self, id: &str, texts: &[&str]) {
        self.click(By::Css(&format!("li.connection-row[data-connection-id='{id}'] button.row-main"))).await;
        self.find_with_text(By::Css("main"), texts).await;
    }

    /// Settings → Revoke `who` → confirm; waits until the row is gone from Settings.
    async fn revoke_in_settings(&self, who: &str, expect: &[&str]) {
        self.click_button("Settings").await;
        self.find_with_text(By::Css("main"), &["Refresh this many seconds"]).await;
        let _ = self.wd.execute("window.scrollTo(0, 0)", vec![]).await;
        self.shot("settings").await;
        self.click_button(&format!("Revoke {who}")).await;
        // "Revoke" where the provider revokes; "Remove from Latchkey" where it cannot.
        let confirm = "//*[@role='dialog']//button[contains(@class,'btn-danger-solid')]";
        self.find(By::XPath(confirm)).await;
        self.shot("revoke-confirm").await;
        self.click(By::XPath(confirm)).await;
        if !expect.is_empty() {
            self.find_with_text(By::Css("body"), expect).await;
            self.shot("revoked").await;
        }
    }

    async fn no_rows(&self) -> bool {
        self.wd.find_all(By::Css("li.connection-row")).await.unwrap_or_default().is_empty()
    }
}

impl Drop for Scenario<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("e2e scenario {} failed; its files are in {}", self.name, self.dir.display());
        }
    }
}

/// A provider app to add through the form.
#[derive(Debug)]
struct AppSpec<'a> {
    preset: &'a str,
    /// The base URL sits in the closed "Advanced" disclosure (presets with a default host).
    base_url_in_advanced: bool,
    scopes: &'a str,
    mode: &'a str,
}

const ALICE: [&str; 2] = ["Alice Example", "alice@example.com"];

/// Whether a Latchkey instance owns its single-instance name on the test's session bus.
fn single_instance_owned(env: &[(String, String)]) -> bool {
    let out = std::process::Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:app.latchkey.desktop.SingleInstance",
        ])
        .envs(env.iter().cloned())
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true")).unwrap_or(false)
}

// -- scenarios ---------------------------------------------------------------------------------

/// Rememberizer through the app's own URL scheme: the redirect arrives as a second launch.
async fn rememberizer_custom_scheme(world: &World) {
    let provider = TestProvider::start("rememberizer");
    let sc = Scenario::start(world, "rememberizer").await;
    sc.find_with_text(By::Css("main"), &["No accounts connected yet"]).await;
    sc.shot("empty").await;

    sc.open_add_app_form().await;
    let spec = AppSpec {
        preset: "rememberizer",
        base_url_in_advanced: true,
        scopes: "read offline_access",
        mode: "deep_link",
    };
    sc.add_app(&provider, &spec).await;
    sc.shot("picker").await;

    let (url, id) = sc.connect_and_wait(&provider, spec.mode, "alice", &ALICE).await;
    assert!(url.starts_with(&provider.url), "{url}");
    // The app's own address, as the form showed it.
    let own = query(&url, "redirect_uri").unwrap_or_default();
    assert!(own.starts_with("app.latchkey:/oauth/callback/") && own.len() == 37, "{url}");
    let stats = provider.stats().await;
    assert_eq!(stats["token"]["authorization_code"], 1, "one code exchange: {stats}");
    assert!(sc.stored_tokens(&id).is_some(), "tokens in the keychain");

    // The detail: profile, scopes, and the mementos the account shared.
    sc.open_detail(&id, &["Permissions", "offline_access", "Mementos", "Work notes", "12 documents"]).await;
    sc.shot("detail").await;
    // The app points at the test server, not production: no link to rememberizer.ai's page.
    assert!(
        sc.try_find_with_text(By::Css("button"), &["Manage at provider"]).await.is_none(),
        "a link to the production provider's page for an app at another server"
    );
    let _ = sc.wd.execute("document.querySelector('h3 ~ *') && [...document.querySelectorAll('h3')].find(h => h.textContent.includes('Mementos')).scrollIntoView()", vec![]).await;
    sc.shot("detail-mementos").await;
    let _ = sc.wd.execute("window.scrollTo(0, 0)", vec![]).await;
    // Revoke from Settings: Rememberizer has no revocation endpoint, and the app says so.
    sc.revoke_in_settings("Alice Example", &["not revoked at the provider"]).await;
    sc.click_button("Close").await;
    assert!(sc.stored_tokens(&id).is_none(), "keychain entry removed");
    sc.click_button("Back to connections").await;
    sc.find_with_text(By::Css("main"), &["No accounts connected yet"]).await;
    sc.finish().await;
}

/// Fusio through a loopback listener: the browser's request to 127.0.0.1 ends the sign-in.
async fn fusio_loopback(world: &World) {
    let provider = TestProvider::start("fusio");
    let sc = Scenario::start(world, "fusio").await;
    sc.open_add_app_form().await;
    let spec = AppSpec { preset: "fusio", base_url_in_advanced: false, scopes: "consumer", mode: "loopback" };
    sc.add_app(&provider, &spec).await;
    // Fusio names the user by login.
    let (url, id) = sc.connect_and_wait(&provider, spec.mode, "alice", &["alice", "alice@example.com"]).await;
    let redirect = query(&url, "redirect_uri").unwrap_or_default();
    assert!(redirect.starts_with("http://127.0.0.1:") && redirect.contains("/oauth/callback/"), "{url}");
    assert_eq!(provider.stats().await["token"]["authorization_code"], 1);

    // The detail lists the account's app grants at Fusio.
    sc.open_detail(&id, &["App grants at", "Acme Reports"]).await;
    sc.shot("detail").await;
    // Revoke from Settings: Fusio revokes, and then rejects both tokens.
    let tokens = sc.stored_tokens(&id).expect("tokens in the keychain");
    sc.revoke_in_settings("alice", &[]).await;
    eventually!(sc, "the connection to disappear", sc.stored_tokens(&id).is_none().then_some(()));
    assert!(!provider.is_active(tokens.access_token.expose_secret()).await, "access token rejected by Fusio");
    assert!(
        !provider.is_active(tokens.refresh_token.as_ref().unwrap().expose_secret()).await,
        "refresh token rejected"
    );
    sc.click_button("Back to connections").await;
    eventually!(sc, "an empty list", sc.no_rows().await.then_some(()));
    sc.shot("revoked").await;
    sc.finish().await;
}

/// TextMaster with a pasted code: the provider shows the code, the user types it in.
async fn textmaster_paste(world: &World) {
    let provider = TestProvider::start("textmaster");
    let sc = Scenario::start(world, "textmaster").await;
    sc.open_add_app_form().await;
    let spec = AppSpec {
        preset: "textmaster",
        base_url_in_advanced: true,
        scopes: "public user:read user:email",
        mode: "paste",
    };
    sc.add_app(&provider, &spec).await;
    let (url, id) = sc.connect_and_wait(&provider, spec.mode, "alice", &ALICE).await;
    assert_eq!(query(&url, "redirect_uri").as_deref(), Some("urn:ietf:wg:oauth:2.0:oob"), "{url}");
    assert_eq!(provider.stats().await["token"]["authorization_code"], 1);

    // The command line shares the data: a token for scripts, then a revoke; the open window
    // notices without a restart.
    let cli = app_exe().with_file_name("latchkey-cli");
    let out = std::process::Command::new(&cli)
        .args(["token", "alice@example.com"])
        .envs(sc.env.clone())
        .output()
        .expect("latchkey-cli");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.trim(), sc.stored_tokens(&id).unwrap().access_token.expose_secret());
    let out = std::process::Command::new(&cli)
        .args(["revoke", &id, "--local-only"])
        .envs(sc.env.clone())
        .output()
        .expect("latchkey-cli");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually!(sc, "the row to disappear after the command line revoked it", sc.no_rows().await.then_some(()));
    sc.shot("revoked-by-cli").await;
    sc.finish().await;
}

/// Short-lived tokens: the connection refreshes on its own (the app starts latchkey-agent);
/// a killed refresh token turns it into Needs reconnect; Reconnect makes it Connected again.
async fn refresh_and_reconnect(world: &World) {
    let provider = TestProvider::start_with("generic", &["--access-ttl", "6"]);
    let sc = Scenario::start(world, "refresh").await;
    sc.open_add_app_form().await;
    let spec = AppSpec { preset: "generic", base_url_in_advanced: false, scopes: "read", mode: "deep_link" };
    sc.add_app(&provider, &spec).await;
    let (_, id) = sc.connect_and_wait(&provider, spec.mode, "alice", &ALICE).await;
    // Refreshed in the background, at least twice (6-second tokens, refreshed at half-life).
    let refreshed = async || provider.stats().await["token"]["refresh_token"].as_i64().unwrap_or(0) >= 2;
    eventually!(sc, "two background refreshes", refreshed().await.then_some(()));
    sc.open_detail(&id, &["Recent refreshes", "Last refresh"]).await;
    sc.find_with_text(By::Css("main"), &["Connected"]).await;
    sc.shot("refreshed").await;
    sc.click_button("Back to connections").await;
    // The provider forgets the refresh token: the next refresh fails for good.
    provider.control("/__test/expire-refresh-tokens", json!({})).await;
    sc.find_with_text(By::Css("li.connection-row"), &["Needs reconnect"]).await;
    sc.shot("needs-reconnect").await;
    assert!(sc.stored_tokens(&id).is_some(), "never deleted");
    // Reconnect: the same account, the same row.
    let before = sc.opened_urls().len();
    sc.click(By::XPath("//li[contains(@class,'connection-row')]//button[normalize-space()='Reconnect']")).await;
    let url = eventually!(sc, "the app to open the sign-in URL", sc.opened_urls().get(before).cloned());
    let answer = provider.sign_in(&url, "alice", true).await;
    sc.second_launch(answer["location"].as_str().expect("redirect")).await;
    eventually!(sc, "the row to be Connected again", {
        sc.try_find_with_text(By::Css("li.connection-row"), &["Connected"]).await.map(|_| ())
    });
    assert_eq!(sc.wd.find_all(By::Css("li.connection-row")).await.unwrap_or_default().len(), 1, "no second row");
    // Recovery is news too: the window says so.
    sc.find_with_text(By::Css(".notice"), &["Alice Example works again"]).await;
    sc.shot("reconnected").await;
    sc.finish().await;
}

/// 200 hostile `app.latchkey:` URLs delivered by second launches while a sign-in waits — very
/// long, unicode, repeated parameters, other paths, another app's address with the real answer
/// (a mix-up), other states, percent-encoding tricks: the app stays alive, exchanges no code, and
/// the pending sign-in then completes with the real redirect.
async fn hostile_deep_links(world: &World) {
    let provider = TestProvider::start("rememberizer");
    let sc = Scenario::start(world, "hostile-links").await;
    sc.open_add_app_form().await;
    let spec = AppSpec { preset: "rememberizer", base_url_in_advanced: true, scopes: "read", mode: "deep_link" };
    sc.add_app(&provider, &spec).await;
    let url = sc.continue_to_sign_in().await;
    sc.find_with_text(By::Css("[role=dialog]"), &["Waiting for your browser"]).await;
    let own = query(&url, "redirect_uri").expect("redirect_uri");
    let state = query(&url, "state").expect("state");
    let answer = provider.sign_in(&url, "alice", true).await;
    let real = answer["location"].as_str().expect("redirect").to_owned();
    let q = &real[real.find('?').expect("query")..];
    let id = own.rsplit('/').next().unwrap_or_default();
    // Ones that carry the real code and state, but never at this app's address in a form that
    // parses: each must change nothing.
    let mut urls = vec![
        format!("app.latchkey:/oauth/callback/0000dead{q}"),
        format!("app.latchkey:/oauth/callback{q}"),
        format!("app.latchkey://oauth/callback/{id}{q}"),
        format!("app.latchkey:/oauth/callback%2F{id}{q}"),
        format!("app.latchkey:/oauth/%63allback/{id}{q}"),
        format!("app.latchkey:/oauth/callback/{id}/{q}"),
        format!("APP.LATCHKEY:/OAUTH/CALLBACK/{id}{q}"),
        format!("{real}&state={state}"),
        format!("{real}&code=forged"),
        format!("{real}&iss=https%3A%2F%2Fevil.example&pad={}", "x".repeat(9000)),
        format!("app.latchkey:/oauth/callback/0000dead?code=x&state={state}"),
        format!("{own}#code=x&state={state}"),
    ];
    let fixed = [
        "app.latchkey:".to_owned(),
        "app.latchkey:/".to_owned(),
        "app.latchkey:/settings".to_owned(),
        "app.latchkey:javascript:alert(document.cookie)".to_owned(),
        "app.latchkey://evil.example/oauth/callback?code=x&state=y".to_owned(),
        "app.latchkey:/oauth/callback".to_owned(),
        format!("{own}?code=x&state={}", "A".repeat(100_000)),
        format!("{own}?code={}&state=x", "%41".repeat(30_000)),
        format!("{own}?code=%F0%9F%98%80&state=%C3%A9t%C3%A9"),
        format!("{own}?code=😀&state=étéé&iss=ℐ"),
        format!("{own}?code=%00&state=%ff%fe%fd"),
        format!("{own}?code=x&%73tate=not-a-state"),
        format!("{own}?code&state"),
        format!("{own}?=&=&&&"),
        format!("{own}?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E"),
        format!("{own}?code=x&state=y\ninjected: header"),
        format!("{own}/../../../../etc/passwd?code=x&state=y"),
    ];
    urls.extend(fixed);
    let mut n = 0u64;
    while urls.len() < 200 {
        n += 1;
        // Another flow's state: well-formed (43 base64url characters), not pending here.
        let other_state: String = (0..43)
            .map(|i| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        [((n * 31 + i * 7) % 64) as usize],
                )
            })
            .collect();
        urls.push(match n % 6 {
            0 => format!("{own}?code=c{n}&state={other_state}"),
            1 => format!("{own}?code=c{n}&state={other_state}&state={other_state}"),
            2 => format!("{own}?code=c{n}&state={other_state}&iss=https://p{n}.example"),
            3 => format!("app.latchkey:/oauth/callback/{n:08x}?code=c{n}&state={other_state}"),
            4 => format!("{own}?code={}&state={other_state}", "é".repeat(n as usize * 50)),
            _ => format!("{own}?{}", "state=x&".repeat(n as usize)),
        });
    }
    // The app and its helpers (WebKit processes, the driver), by pid: the same ones afterwards.
    let mut alive = sc.driver.marked_pids();
    alive.sort_unstable();
    let t0 = Instant::now();
    let mut crashed = vec![];
    for (i, u) in urls.iter().enumerate() {
        let (exe, env, log, u2) = (app_exe(), sc.env.clone(), sc.dir.join("second-launch.log"), u.clone());
        let st = tokio::task::spawn_blocking(move || second_launch(&exe, &u2, &env, &log)).await.expect("join");
        if !st.success() {
            crashed.push(format!("#{i} ({} bytes) {st}: {}", u.len(), u.chars().take(80).collect::<String>()));
        }
    }
    // A second launch that crashes before handing its URL over is the launcher's problem, not the
    // running app's (seen once here: SIGSEGV while exiting after a 12 kB unicode argument); say so
    // loudly, but what this scenario checks is the running app.
    for c in &crashed {
        eprintln!("[hostile-links] warning: second launch {c}");
    }
    assert!(crashed.len() <= 5, "most second launches delivered their link: {crashed:#?}");
    let mut after: Vec<u32> = sc.driver.marked_pids();
    after.sort_unstable();
    assert_eq!(after, alive, "the app and its processes are the same ones, all alive");
    println!("e2e: {} hostile links delivered in {:.1} s", urls.len(), t0.elapsed().as_secs_f64());
    // Still alive, still waiting, nothing exchanged, nothing connected.
    sc.find_with_text(By::Css("[role=dialog]"), &["Waiting for your browser"]).await;
    sc.shot("after-hostile-links").await;
    assert_eq!(provider.stats().await["token"]["authorization_code"], 0, "no hostile link reached the token endpoint");
    assert!(sc.no_rows().await);
    // The real redirect completes the pending sign-in.
    sc.second_launch(&real).await;
    sc.wait_for_row(&ALICE).await;
    assert_eq!(provider.stats().await["token"]["authorization_code"], 1);
    sc.shot("connected").await;
    sc.finish().await;
}

/// A redirect nobody asked for (no sign-in in progress) is ignored with a notice.
async fn stray_deep_link(world: &World) {
    let sc = Scenario::start(world, "stray-link").await;
    sc.second_launch("app.latchkey:/oauth/callback?code=x&state=y").await;
    sc.find_with_text(By::Css(".notice"), &["No sign-in is in progress"]).await;
    sc.shot("notice").await;
    // Nothing was connected.
    assert!(sc.wd.find_all(By::Css("li.connection-row")).await.unwrap_or_default().is_empty());
    sc.finish().await;
}

/// A damaged `latchkey.json` (with a last good copy beside it) opens the window on the
/// recovery screen; "Restore the last good copy" brings the provider app and the connection
/// back, and the damaged file is kept aside.
async fn damaged_data_recovery(world: &World) {
    let damaged: &[u8] = br#"{"format":1,"apps":[{"id":"app-1","pres"#;
    let sc = Scenario::start_prepared(world, "damaged-data", |data| {
        let app: latchkey_core::ProviderApp = serde_json::from_value(json!({
            "id": "app-1", "preset": "rememberizer", "name": "Rememberizer (restored)", "baseUrl": null,
            "clientId": "cid", "scopes": "read", "redirectMode": "deep_link", "createdAt": 1_700_000_000
        }))
        .expect("app");
        let mut c = latchkey_core::Connection::new("c0ffee0000000001", "app-1", "42", 1_700_000_000);
        c.name = Some(ALICE[0].into());
        c.email = Some(ALICE[1].into());
        let good = latchkey_core::store::Data { apps: vec![app], connections: vec![c], ..Default::default() };
        std::fs::write(data.join("latchkey.json.bak"), serde_json::to_vec_pretty(&good).unwrap()).unwrap();
        std::fs::write(data.join("latchkey.json"), damaged).unwrap();
    })
    .await;
    sc.find_with_text(By::Css("h2"), &["data file is damaged"]).await;
    sc.find_with_text(By::Css(".recovery"), &["latchkey.json", "nothing has been overwritten"]).await;
    assert!(sc.no_rows().await);
    // The recovery screen is the whole window: no error notices, no Connect account.
    assert!(sc.try_find(By::Css(".alert-error")).await.is_none(), "an error notice beside the recovery screen");
    assert!(sc.try_find_with_text(By::Css("button"), &["Connect account"]).await.is_none());
    sc.shot("recovery").await;
    sc.click_button("Restore the last good copy").await;
    let id = sc.wait_for_row(&ALICE).await;
    assert_eq!(id, "c0ffee0000000001");
    sc.find_with_text(By::Css(".notice"), &["last good copy was restored", "damaged-"]).await;
    sc.shot("restored").await;
    let data = sc.dir.join("data");
    let aside: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("latchkey.json.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged file is kept aside");
    assert_eq!(std::fs::read(aside[0].path()).unwrap(), damaged);
    let restored: Value = serde_json::from_slice(&std::fs::read(data.join("latchkey.json")).unwrap()).unwrap();
    assert_eq!(restored["connections"][0]["id"], "c0ffee0000000001");
    sc.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_in_the_real_window() {
    let t0 = Instant::now();
    let world = World::start();
    println!("e2e: Xvfb on {}, screenshots in {}", world.xvfb.display, world.shots.display());
    // `LATCHKEY_E2E_ONLY=window,fusio` runs only those scenarios (while working on them).
    let only = std::env::var("LATCHKEY_E2E_ONLY").ok();
    let on = |n: &str| only.as_deref().is_none_or(|o| o.split(',').any(|x| x.trim() == n));
    if on("rememberizer") {
        rememberizer_custom_scheme(&world).await;
    }
    if on("fusio") {
        fusio_loopback(&world).await;
    }
    if on("textmaster") {
        textmaster_paste(&world).await;
    }
    if on("stray-link") {
        stray_deep_link(&world).await;
    }
    if on("hostile-links") {
        hostile_deep_links(&world).await;
    }
    if on("damaged-data") {
        damaged_data_recovery(&world).await;
    }
    if on("refresh") {
        refresh_and_reconnect(&world).await;
    }
    if on("window") {
        window::accessible_in_both_themes(&world).await;
    }
    println!("e2e: all scenarios passed in {:.1} s", t0.elapsed().as_secs_f64());
}
