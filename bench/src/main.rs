//! `make bench`: how fast and how light Latchkey is, against the floor of its stack (a blank
//! Tauri window with the same plugins, `examples/blank.rs`), GNOME's goa-daemon, and plain
//! reqwest + keyring — measured alternately in one run. Prints a Markdown table and writes the
//! same figures to `target/bench/results.json`.
//!
//! Runs under `bench/run.sh`, which builds the release binaries and starts Xvfb; this program
//! starts its own private Secret Service (gnome-keyring on a private session bus) and the local
//! OAuth test provider. Knobs (environment): `BENCH_RUNS` (5), `BENCH_IDLE_RUNS` (3),
//! `BENCH_STARTUP_RUNS` (25), `BENCH_IDLE_SECS` (60), `BENCH_REFRESH_N` (1000), `BENCH_REFRESH_ROUNDS` (5),
//! `BENCH_CONNECT_RUNS` (10), `BENCH_CLI_RUNS` (20), `BENCH_APP_ENV` / `BENCH_BLANK_ENV` (variables
//! for the app's / blank window's launches only, for experiments), `BENCH_ONLY` (comma-separated: sizes,
//! startup,memory,idle,cli,connect,refresh), `BENCH_VERBOSE` (each start-up launch's stages),
//! `BENCH_KEEP_WORK` (keep the temporary work directory: the data directories and logs).

mod connect;
mod launch;
mod procfs;
mod refresh;
mod report;
mod seed;
mod x11;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use latchkey_harness::{TestProvider, repo_root, secret_service};

use crate::launch::{Goa, Profile, Running};
use crate::procfs::ProcMem;
use crate::report::{Figure, Goal, median, table};

fn env_usize(k: &str, default: usize) -> usize {
    std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Bench {
    root: PathBuf,
    target: PathBuf,
    work: PathBuf,
    runs: usize,
    figures: Vec<Figure>,
    details: BTreeMap<String, serde_json::Value>,
}

impl Bench {
    #[allow(clippy::too_many_arguments)]
    fn figure(
        &mut self,
        group: &'static str,
        what: impl Into<String>,
        unit: &'static str,
        l: Vec<f64>,
        baseline_name: &str,
        b: Vec<f64>,
        compare: &'static str,
        note: impl Into<String>,
    ) -> &mut Figure {
        self.figures.push(Figure {
            group,
            what: what.into(),
            unit,
            latchkey: median(&l),
            baseline: median(&b),
            baseline_name: baseline_name.to_owned(),
            compare,
            runs: l.len().max(b.len()),
            samples_latchkey: l,
            samples_baseline: b,
            note: note.into(),
            goal: None,
            meets_goal: None,
        });
        self.figures.last_mut().expect("just pushed")
    }

    fn bin(&self, name: &str) -> PathBuf {
        let p = self.target.join("release").join(name);
        assert!(p.exists(), "{} is missing: build with `cargo build --release --workspace --examples`", p.display());
        p
    }

    fn profile(&self, name: &str, xdg: &str) -> Profile {
        Profile {
            data_dir: self.work.join(format!("data-{name}")),
            service: format!("app.latchkey.bench.{name}"),
            xdg: self.work.join(format!("xdg-{xdg}")),
        }
    }
}

fn wait_ready(r: &mut Running, maps: &Receiver<x11::Mapped>) -> launch::Startup {
    r.wait_ready(maps, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"))
}

fn sum_mem(m: &[ProcMem]) -> (f64, f64) {
    let rss: u64 = m.iter().map(|p| p.rss_kib).sum();
    let pss: u64 = m.iter().map(|p| p.pss_kib).sum();
    (pss as f64 / 1024.0, rss as f64 / 1024.0)
}

fn breakdown(m: &[ProcMem]) -> String {
    let mut by: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for p in m {
        let e = by.entry(p.comm.clone()).or_default();
        e.0 += p.pss_kib;
        e.1 += 1;
    }
    by.iter()
        .map(|(c, (pss, n))| {
            let c = if *n > 1 { format!("{c}×{n}") } else { c.clone() };
            format!("{c} {:.0}", *pss as f64 / 1024.0)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The mapping kinds whose PSS differs most between the app and the blank window, one line
/// each: "  +31.2  WebKitWebProces [anon]  (app 80.1, blank 48.9)".
fn mapping_diff(by: &BTreeMap<&str, BTreeMap<String, u64>>) -> String {
    let empty = BTreeMap::new();
    let (app, blank) = (by.get("latchkey").unwrap_or(&empty), by.get("blank").unwrap_or(&empty));
    let mut rows: Vec<(i64, &String)> = app
        .keys()
        .chain(blank.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| (app.get(k).copied().unwrap_or(0) as i64 - blank.get(k).copied().unwrap_or(0) as i64, k))
        .filter(|(d, _)| d.abs() >= 512)
        .collect();
    rows.sort_by_key(|(d, _)| -d.abs());
    let mib = |k: u64| k as f64 / 1024.0;
    rows.iter()
        .take(25)
        .map(|(d, k)| {
            format!(
                "  {:+7.1}  {k}  (app {:.1}, blank {:.1})",
                *d as f64 / 1024.0,
                mib(app.get(*k).copied().unwrap_or(0)),
                mib(blank.get(*k).copied().unwrap_or(0))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- stages ---------------------------------------------------------------------------------

/// Launches of each program per start-up figure (`BENCH_STARTUP_RUNS`): a launch's time moves by
/// tens of ms with the host, so the median needs more samples than the other figures.
const STARTUP_RUNS: usize = 25;

fn startup(b: &mut Bench, maps: &Receiver<x11::Mapped>, provider: &TestProvider) {
    let lk_bin = b.bin("latchkey");
    let blank_bin = b.bin("examples/blank");
    let startup_runs = env_usize("BENCH_STARTUP_RUNS", STARTUP_RUNS);
    for conns in [0usize, 50] {
        let lk = b.profile(&format!("start{conns}"), "latchkey");
        if conns > 0 {
            seed::seed_idle(&lk.data_dir, &lk.service, conns, &provider.url, &provider.client_id, "s");
        }
        let blank = b.profile("blank", "blank");
        let mut samples: BTreeMap<&str, Vec<launch::Startup>> = BTreeMap::new();
        // A warm-up launch of each (page cache, WebKit caches, fontconfig), not counted.
        for r in 0..=startup_runs {
            let order: [(&str, &PathBuf, &Profile); 2] = if r % 2 == 0 {
                [("latchkey", &lk_bin, &lk), ("blank", &blank_bin, &blank)]
            } else {
                [("blank", &blank_bin, &blank), ("latchkey", &lk_bin, &lk)]
            };
            for (name, bin, prof) in order {
                let mut run = launch::start(name, bin, prof, &[], &[]);
                let s = wait_ready(&mut run, maps);
                run.stop();
                if std::env::var_os("BENCH_VERBOSE").is_some() {
                    let m = s.marks.unwrap_or([f64::NAN; 4]);
                    eprintln!(
                        "    launch {r} {name}: mapped {:.0}, navigation {:.0}, script {:.0}, state {:.0}, rendered {:.0}, ready {:.0}",
                        s.mapped_ms, m[0], m[1], m[2], m[3], s.ready_ms
                    );
                }
                if r > 0 {
                    samples.entry(name).or_default().push(s);
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
        let get = |n: &str, f: fn(&launch::Startup) -> f64| -> Vec<f64> {
            samples.get(n).map(|v| v.iter().map(f).collect()).unwrap_or_default()
        };
        eprintln!(
            "  start-up, {conns} connections: latchkey mapped {:?} ready {:?}; blank mapped {:?} ready {:?}",
            median(&get("latchkey", |s| s.mapped_ms)),
            median(&get("latchkey", |s| s.ready_ms)),
            median(&get("blank", |s| s.mapped_ms)),
            median(&get("blank", |s| s.ready_ms)),
        );
        // Where the app's time goes, from its page's own marks (medians, ms from start).
        let mark = |who: &str, i: usize| {
            let v: Vec<f64> = samples
                .get(who)
                .into_iter()
                .flatten()
                .filter_map(|s| s.marks.map(|m| m[i]))
                .filter(|x| !x.is_nan())
                .collect();
            median(&v).unwrap_or(f64::NAN)
        };
        let timeline = format!(
            "page marks, ms from start: latchkey navigation {:.0}, script {:.0}, state {:.0}, rendered {:.0}, ready {:.0}; blank navigation {:.0}, script {:.0}, ready {:.0}",
            mark("latchkey", 0),
            mark("latchkey", 1),
            mark("latchkey", 2),
            mark("latchkey", 3),
            median(&get("latchkey", |s| s.ready_ms)).unwrap_or(f64::NAN),
            mark("blank", 0),
            mark("blank", 1),
            median(&get("blank", |s| s.ready_ms)).unwrap_or(f64::NAN),
        );
        eprintln!("  start-up, {conns} connections: {timeline}");
        b.figure(
            "Start-up",
            format!("start → window mapped, {conns} connections"),
            "ms",
            get("latchkey", |s| s.mapped_ms),
            "blank window",
            get("blank", |s| s.mapped_ms),
            "diff",
            "",
        );
        b.figure(
            "Start-up",
            format!("start → list interactive, {conns} connections"),
            "ms",
            get("latchkey", |s| s.ready_ms),
            "blank window (page loaded)",
            get("blank", |s| s.ready_ms),
            "diff",
            timeline,
        )
        .goal(Goal::diff(40.0));
        seed::unseed(&lk.service, conns);
    }
}

fn memory(b: &mut Bench, maps: &Receiver<x11::Mapped>, provider: &TestProvider) {
    let lk_bin = b.bin("latchkey");
    let blank_bin = b.bin("examples/blank");
    let agent_bin = b.bin("latchkey-agent");
    let lk = b.profile("mem-app", "latchkey");
    seed::seed_idle(&lk.data_dir, &lk.service, 10, &provider.url, &provider.client_id, "s");
    let agent = b.profile("mem-agent", "agent");
    seed::seed_idle(&agent.data_dir, &agent.service, 10, &provider.url, &provider.client_id, "s");
    let blank = b.profile("blank", "blank");
    let goa_home = b.work.join("goa-home");
    let (mut app_pss, mut app_rss, mut blank_pss, mut blank_rss) = (vec![], vec![], vec![], vec![]);
    let (mut ag_pss, mut ag_rss, mut goa_pss, mut goa_rss) = (vec![], vec![], vec![], vec![]);
    let mut last_breakdown = (String::new(), String::new());
    // The last run's PSS by process and mapping kind (KiB), for where the difference lies.
    let mut by_mapping: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    // Every run's, to tell apart runs of one program that differ (results.json only).
    let mut by_mapping_runs: Vec<BTreeMap<&str, BTreeMap<String, u64>>> = Vec::new();
    for r in 0..b.runs {
        // The agent and goa-daemon idle while the windows are measured one after the other.
        let t0 = Instant::now();
        let ag = launch::start("agent", &agent_bin, &agent, &[], &[]);
        let goa = if Goa::available() {
            Goa::start(&goa_home).map_err(|e| eprintln!("  goa-daemon: {e}")).ok()
        } else {
            None
        };
        let order: [(&str, &PathBuf, &Profile); 2] = if r % 2 == 0 {
            [("latchkey", &lk_bin, &lk), ("blank", &blank_bin, &blank)]
        } else {
            [("blank", &blank_bin, &blank), ("latchkey", &lk_bin, &lk)]
        };
        for (name, bin, prof) in order {
            let mut run = launch::start(name, bin, prof, &[], &[]);
            wait_ready(&mut run, maps);
            std::thread::sleep(Duration::from_secs(10));
            let m = procfs::memory_of(&run.tree());
            let (pss, rss) = sum_mem(&m);
            let kinds = by_mapping.entry(name).or_default();
            kinds.clear();
            for p in &m {
                // The program's own process is "main" in both trees, so that its rows compare.
                let comm = if p.pid == run.pid { "main" } else { p.comm.as_str() };
                for (kind, kib) in procfs::pss_by_mapping(p.pid) {
                    *kinds.entry(format!("{comm} {kind}")).or_default() += kib;
                }
            }
            if name == "latchkey" {
                app_pss.push(pss);
                app_rss.push(rss);
                last_breakdown.0 = breakdown(&m);
            } else {
                blank_pss.push(pss);
                blank_rss.push(rss);
                last_breakdown.1 = breakdown(&m);
            }
            run.stop();
            std::thread::sleep(Duration::from_millis(300));
        }
        by_mapping_runs.push(by_mapping.clone());
        if let Some(left) = Duration::from_secs(30).checked_sub(t0.elapsed()) {
            std::thread::sleep(left);
        }
        let (pss, rss) = sum_mem(&procfs::memory_of(&[ag.pid]));
        ag_pss.push(pss);
        ag_rss.push(rss);
        ag.stop();
        if let Some(g) = goa {
            let (pss, rss) = sum_mem(&procfs::memory_of(&[g.pid]));
            goa_pss.push(pss);
            goa_rss.push(rss);
            g.stop();
        }
        eprintln!(
            "  memory run {}: app PSS {:.1} MiB, blank {:.1}, agent {:.1}, goa {:?}",
            r + 1,
            app_pss[r],
            blank_pss[r],
            ag_pss[r],
            goa_pss.get(r)
        );
    }
    b.details.insert(
        "memory_breakdown_pss_mib".into(),
        serde_json::json!({"latchkey": last_breakdown.0, "blank": last_breakdown.1}),
    );
    let diff = mapping_diff(&by_mapping);
    eprintln!("  memory, where the app's PSS differs from the blank window's (last run, MiB):\n{diff}");
    b.details.insert("memory_by_mapping_pss_kib".into(), serde_json::json!(by_mapping));
    b.details.insert("memory_by_mapping_pss_kib_runs".into(), serde_json::json!(by_mapping_runs));
    let note = format!("per process, MiB PSS (last run): {}", last_breakdown.0);
    b.figure(
        "Memory",
        "app + WebKit processes, PSS (10 connections, 10 s idle)",
        "MiB",
        app_pss,
        "blank window",
        blank_pss,
        "ratio",
        note,
    )
    .goal(Goal::ratio(1.10));
    b.figure(
        "Memory",
        "app + WebKit processes, RSS",
        "MiB",
        app_rss,
        "blank window",
        blank_rss,
        "ratio",
        "RSS counts shared pages once per process",
    );
    b.figure(
        "Memory",
        "latchkey-agent alone, PSS (10 connections, 30 s idle)",
        "MiB",
        ag_pss,
        "goa-daemon",
        goa_pss,
        "ratio",
        "",
    )
    .goal(Goal::ratio(1.0));
    b.figure("Memory", "latchkey-agent alone, RSS", "MiB", ag_rss, "goa-daemon", goa_rss, "ratio", "");
    seed::unseed(&lk.service, 10);
    seed::unseed(&agent.service, 10);
}

fn idle(b: &mut Bench, maps: &Receiver<x11::Mapped>, provider: &TestProvider) {
    let runs = env_usize("BENCH_IDLE_RUNS", 3);
    let secs = env_usize("BENCH_IDLE_SECS", 60) as u64;
    let lk_bin = b.bin("latchkey");
    let blank_bin = b.bin("examples/blank");
    let agent_bin = b.bin("latchkey-agent");
    let lk = b.profile("idle-app", "latchkey");
    seed::seed_idle(&lk.data_dir, &lk.service, 200, &provider.url, &provider.client_id, "s");
    let agent = b.profile("idle-agent", "agent");
    seed::seed_idle(&agent.data_dir, &agent.service, 200, &provider.url, &provider.client_id, "s");
    let blank = b.profile("blank", "blank");
    let goa_home = b.work.join("goa-home");
    // Per program: CPU ms (the CPU-time clock), schedstat ms, wake-ups; one entry per run.
    let mut s: BTreeMap<&str, [Vec<f64>; 3]> = BTreeMap::new();
    // Per program and run: CPU ms by process ("WebKitWebProces 40, latchkey 10").
    let mut by_process: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    // The same by thread (run time over 1 ms): which of WebKit's threads a costly minute went to.
    let mut by_thread: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for r in 0..runs {
        // All four idle side by side for the same minute: idle costs do not compete.
        let ag = launch::start("agent", &agent_bin, &agent, &[], &[]);
        let goa = if Goa::available() { Goa::start(&goa_home).ok() } else { None };
        let mut app = launch::start("latchkey", &lk_bin, &lk, &[], &[]);
        wait_ready(&mut app, maps);
        let mut bl = launch::start("blank", &blank_bin, &blank, &[], &[]);
        wait_ready(&mut bl, maps);
        std::thread::sleep(Duration::from_secs(5));
        let trees = |app: &Running, bl: &Running, goa: &Option<Goa>| -> Vec<(&'static str, Vec<i32>)> {
            let mut v = vec![("agent", vec![ag.pid]), ("latchkey", app.tree()), ("blank", bl.tree())];
            if let Some(g) = goa {
                v.push(("goa", vec![g.pid]));
            }
            v
        };
        let before: Vec<_> = trees(&app, &bl, &goa).into_iter().map(|(n, t)| (n, procfs::cpu_tree(&t))).collect();
        std::thread::sleep(Duration::from_secs(secs));
        let after: Vec<_> = trees(&app, &bl, &goa).into_iter().map(|(n, t)| (n, procfs::cpu_tree(&t))).collect();
        for ((name, b0), (_, a)) in before.iter().zip(after.iter()) {
            let d = procfs::cpu_delta(b0, a);
            let e = s.entry(name).or_default();
            e[0].push(d.cpu_ms);
            e[1].push(d.sched_ns as f64 / 1e6);
            e[2].push(d.switches as f64);
            let parts = procfs::cpu_by_comm(b0, a);
            eprintln!(
                "  idle run {} {name}: cpu {:.1} ms (sched {:.1} ms), {} wake-ups; by process: {parts}",
                r + 1,
                d.cpu_ms,
                d.sched_ns as f64 / 1e6,
                d.switches
            );
            by_process.entry(name).or_default().push(parts);
            let threads = procfs::cpu_by_thread(b0, a, 1.0);
            if !threads.is_empty() {
                eprintln!("  idle run {} {name}, threads over 1 ms: {threads}", r + 1);
            }
            by_thread.entry(name).or_default().push(threads);
        }
        app.stop();
        bl.stop();
        ag.stop();
        if let Some(g) = goa {
            g.stop();
        }
    }
    let get = |n: &str, i: usize| -> Vec<f64> { s.get(n).map(|e| e[i].clone()).unwrap_or_default() };
    b.details.insert("idle_cpu_ms_by_process".into(), serde_json::to_value(&by_process).expect("json"));
    b.details.insert("idle_cpu_ms_by_thread".into(), serde_json::to_value(&by_thread).expect("json"));
    let note = format!("{runs} runs of {secs} s, all four side by side");
    // The goals are per minute: 10 ms of CPU over the peer's in 60 s.
    let per_run = secs as f64 / 60.0;
    b.figure(
        "Idle",
        format!("latchkey-agent CPU time in {secs} s (200 connections not due)"),
        "ms",
        get("agent", 0),
        "goa-daemon",
        get("goa", 0),
        "diff",
        format!("{note}; the process's CPU-time clock (ns, ended threads included); run time of its threads from schedstat: {:?} ms", get("agent", 1)),
    )
    .goal(Goal::diff(10.0 * per_run));
    b.figure(
        "Idle",
        format!("latchkey-agent wake-ups in {secs} s"),
        "switches",
        get("agent", 2),
        "goa-daemon",
        get("goa", 2),
        "diff",
        "voluntary + involuntary context switches, thread by thread, of the threads alive at the end",
    )
    .goal(Goal::diff(0.0));
    b.figure(
        "Idle",
        format!("open app CPU time in {secs} s (200 connections; app + WebKit)"),
        "ms",
        get("latchkey", 0),
        "blank window",
        get("blank", 0),
        "diff",
        format!(
            "the processes' CPU-time clocks (ns); schedstat of live threads: {:?} ms (blank {:?}); by process: {:?}",
            get("latchkey", 1),
            get("blank", 1),
            by_process.get("latchkey")
        ),
    )
    .goal(Goal::diff(10.0 * per_run));
    b.figure(
        "Idle",
        format!("open app wake-ups in {secs} s"),
        "switches",
        get("latchkey", 2),
        "blank window",
        get("blank", 2),
        "diff",
        "thread by thread, of the threads alive at the end only: WebKit's and GLib's pool threads come and go",
    );
    seed::unseed(&lk.service, 200);
    seed::unseed(&agent.service, 200);
}

fn sizes(b: &mut Bench) {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len() as f64 / 1e6).ok();
    let rel = b.target.join("release");
    let ui_dir = b.root.join("ui/dist");
    // The package is `make package`'s, in the main target directory (the bench's own build
    // carries test hooks and is never packaged).
    let deb_dir = b.root.join("target/release/bundle/deb");
    let blank = size(&rel.join("examples/blank"));
    let mut row = |what: &str, l: Option<f64>, base: Option<f64>, base_name: &str, note: &str| {
        b.figure(
            "Size",
            what.to_owned(),
            "MB",
            l.into_iter().collect(),
            base_name,
            base.into_iter().collect(),
            "ratio",
            note,
        );
    };
    row("latchkey (release binary)", size(&rel.join("latchkey")), blank, "blank window binary", "UI assets embedded");
    row("latchkey-agent", size(&rel.join("latchkey-agent")), None, "", "");
    row("latchkey-cli", size(&rel.join("latchkey-cli")), None, "", "");
    let deb = std::fs::read_dir(&deb_dir).ok().and_then(|d| {
        d.flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "deb"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    });
    match deb {
        Some(d) => {
            row(".deb (app + agent + cli)", size(&d), None, "", &d.file_name().unwrap_or_default().to_string_lossy())
        }
        None => row(".deb", None, None, "", "not built (make package)"),
    }
    fn dir_size(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { dir_size(&p) } else { e.metadata().map(|m| m.len()).unwrap_or(0) }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    let ui = dir_size(&ui_dir);
    row("UI bundle (ui/dist)", (ui > 0).then_some(ui as f64 / 1e6), None, "", "uncompressed");
    // What the window loads before its first list: index.html and the scripts and styles it
    // names (the entry, its preloaded chunks, the stylesheet); the views it loads on demand
    // are not among them.
    let index = std::fs::read_to_string(ui_dir.join("index.html")).unwrap_or_default();
    let first: u64 = index
        .split(['"', '\''])
        .filter(|p| p.starts_with("./assets/") || p.starts_with("/assets/"))
        .map(|p| {
            std::fs::metadata(ui_dir.join(p.trim_start_matches("./").trim_start_matches('/'))).map_or(0, |m| m.len())
        })
        .sum::<u64>()
        + index.len() as u64;
    b.figure(
        "Size",
        "UI first load (index.html, its scripts and styles)".to_owned(),
        "kB",
        (!index.is_empty()).then_some(first as f64 / 1e3).into_iter().collect(),
        "",
        vec![],
        "ratio",
        "uncompressed; the detail, settings and dialogs load on demand",
    );
}

/// `latchkey-cli token` for a connection whose token is valid (start → printed → exit), against
/// `secret-tool lookup` of one keychain item: what a script pays for a token.
fn cli(b: &mut Bench, provider: &TestProvider) {
    let runs = env_usize("BENCH_CLI_RUNS", 20);
    let cli_bin = b.bin("latchkey-cli");
    let p = b.profile("cli", "cli");
    seed::seed_idle(&p.data_dir, &p.service, 10, &provider.url, &provider.client_id, "s");
    let first = seed::connection(0, 0, 0);
    let key = latchkey_core::vault::connection_key(&first.id);
    let email = first.email.clone().unwrap_or_default();
    let time = |cmd: &mut std::process::Command| -> f64 {
        let t = Instant::now();
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ms
    };
    let (mut lk, mut base) = (vec![], vec![]);
    // One unmeasured call of each first (page cache).
    for r in 0..=runs {
        let l = time(
            std::process::Command::new(&cli_bin)
                .args(["token", &email])
                .env("LATCHKEY_DATA_DIR", &p.data_dir)
                .env("LATCHKEY_KEYRING_SERVICE", &p.service)
                .env("LATCHKEY_NO_AGENT", "1"),
        );
        let s =
            time(std::process::Command::new("secret-tool").args(["lookup", "service", &p.service, "username", &key]));
        if r > 0 {
            lk.push(l);
            base.push(s);
        }
    }
    b.figure(
        "CLI",
        "latchkey-cli token (a valid token: start → printed → exit)",
        "ms",
        lk,
        "secret-tool lookup of one keychain item",
        base,
        "ratio",
        "",
    )
    .goal(Goal::ratio(1.5));
    seed::unseed(&p.service, 10);
}

fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("")
        .trim()
        .to_owned();
    let cores = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
    serde_json::json!({
        "cpu": model, "cores": cores, "memory_gib": (mem_kib as f64 / 1048576.0 * 10.0).round() / 10.0,
        "os": os, "kernel": kernel,
        "summary": format!("{model}, {cores} cores, {:.0} GiB, {os}", mem_kib as f64 / 1048576.0),
    })
}

fn main() {
    let root = repo_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect());
    let want = |s: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == s));
    assert!(std::env::var_os("DISPLAY").is_some(), "DISPLAY is not set: run through bench/run.sh (it starts Xvfb)");
    let work = std::env::temp_dir().join(format!("latchkey-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let mut b = Bench {
        root: root.clone(),
        target: target.clone(),
        work: work.clone(),
        runs: env_usize("BENCH_RUNS", 5).max(1),
        figures: vec![],
        details: BTreeMap::new(),
    };
    let started = Instant::now();
    eprintln!("latchkey-bench: private Secret Service, test provider, X watcher ...");
    secret_service();
    let provider = TestProvider::start_with("rememberizer", &["--access-ttl", "300"]);
    let maps = x11::watch_maps().unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");

    if want("sizes") {
        sizes(&mut b);
    }
    if want("startup") {
        eprintln!("start-up ({} runs each, alternating) ...", env_usize("BENCH_STARTUP_RUNS", STARTUP_RUNS));
        startup(&mut b, &maps, &provider);
    }
    if want("memory") {
        eprintln!("memory ({} runs) ...", b.runs);
        memory(&mut b, &maps, &provider);
    }
    if want("idle") {
        eprintln!("idle cost ...");
        idle(&mut b, &maps, &provider);
    }
    if want("cli") {
        eprintln!("latchkey-cli token ...");
        cli(&mut b, &provider);
    }
    if want("connect") {
        let runs = env_usize("BENCH_CONNECT_RUNS", 10);
        eprintln!("connect latency ({runs} runs) ...");
        let config = latchkey_core::Config::new(work.join("data-connect"), "app.latchkey.bench.connect");
        let o = rt.block_on(connect::run(&provider, &config, runs));
        let write = median(&o.keychain_write_ms).unwrap_or(f64::NAN);
        b.figure(
            "Connect",
            "redirect received → connection saved and shown (core)",
            "ms",
            o.latchkey_ms.clone(),
            "provider alone: token + profile requests",
            o.provider_ms.clone(),
            "diff",
            format!(
                "handle_callback until the UI event, for an account not connected here (earlier stages \
                 have removed their keychain items); the app's window then reloads its list. One \
                 keychain write of the token set with plain keyring took {write:.1} ms (median; samples {:?})",
                o.keychain_write_ms
            ),
        )
        .goal(Goal::diff(10.0));
        b.figure(
            "Connect",
            "the same for an account already connected (a reconnect)",
            "ms",
            o.reconnect_ms.clone(),
            "provider alone: token + profile requests",
            o.provider_ms.clone(),
            "diff",
            "also takes the connection's refresh lock, reads the set it replaces, and asks the provider \
             to revoke that sign-in before it returns",
        );
        b.details.insert("connect".into(), serde_json::to_value(&o).expect("json"));
    }

    if want("refresh") {
        let n = env_usize("BENCH_REFRESH_N", 1000);
        let rounds = env_usize("BENCH_REFRESH_ROUNDS", 5);
        eprintln!("refresh throughput ({n} connections, {rounds} rounds) ...");
        let w = refresh::World { data_dir: work.join("data-refresh"), service: "app.latchkey.bench.refresh".into() };
        let mut scale: Vec<usize> = [10, 100, n].into_iter().filter(|&k| k <= n).collect();
        scale.dedup();
        let o = rt.block_on(refresh::run(&provider, &w, n, rounds, &scale));
        let pieces: Vec<String> = o.pieces_ms.iter().map(|(k, v)| format!("{k} {v:.1} ms")).collect();
        let note = format!(
            "concurrency {} for both; setup: {n} sign-ins took {:.1} s; failures: latchkey {}, baseline {}; pieces: {}",
            o.concurrency,
            o.sign_in_secs,
            o.latchkey_failures,
            o.baseline_failures,
            pieces.join(", ")
        );
        eprintln!("  refresh pieces: {}", pieces.join(", "));
        let cpu = |m: &std::collections::BTreeMap<String, f64>| {
            m.iter().map(|(k, v)| format!("{k} {v:.1}")).collect::<Vec<_>>().join(", ")
        };
        let cpu_line = format!(
            "CPU ms per refresh: latchkey: {}; baseline: {}; baseline reading each token: {}",
            cpu(&o.cpu_ms_per_refresh_latchkey),
            cpu(&o.cpu_ms_per_refresh_baseline),
            cpu(&o.cpu_ms_per_refresh_baseline_read)
        );
        eprintln!("  refresh {cpu_line}");
        let note = format!("{note}; {cpu_line}");
        b.figure(
            "Refresh",
            format!("{n} connections due at once → all refreshed and stored"),
            "s",
            o.latchkey_secs.clone(),
            "plain reqwest + keyring",
            o.baseline_secs.clone(),
            "ratio",
            note,
        )
        .goal(Goal::ratio(1.10));
        // No goal: the floor of a refresher that keeps its refresh tokens in the keychain (the
        // baseline above holds them in memory, handed over from the round before).
        b.figure(
            "Refresh",
            "the same, against a baseline that reads each refresh token from the keychain first",
            "s",
            o.latchkey_secs.clone(),
            "plain reqwest + keyring, one keychain read per token",
            o.baseline_read_secs.clone(),
            "ratio",
            format!(
                "the baseline's rounds run between the other two, in the same keychain; failures: {}",
                o.baseline_read_failures
            ),
        );
        // The cost per connection must stay flat as connections grow.
        for (&k, ms) in &o.per_connection_ms {
            let (base_name, base) = if k == n {
                ("plain reqwest + keyring", o.baseline_secs.iter().map(|s| s * 1000.0 / n as f64).collect())
            } else {
                ("", vec![])
            };
            let note = if k == n { String::new() } else { format!("failures: {}", o.scale_failures) };
            b.figure(
                "Refresh",
                format!("time per connection, {k} due at once"),
                "ms",
                ms.clone(),
                base_name,
                base,
                "ratio",
                note,
            );
        }
        if let (Some(small), Some(big)) = (o.per_connection_ms.get(&scale[0]), o.per_connection_ms.get(&n))
            && scale[0] < n
        {
            let ratios: Vec<f64> = big.iter().zip(small).map(|(b, s)| b / s).collect();
            b.figure(
                "Refresh",
                format!("time per connection, {n} due ÷ {} due", scale[0]),
                "×",
                ratios,
                "",
                vec![],
                "ratio",
                "round by round",
            )
            .goal(Goal::value(1.2));
        }
        b.details.insert("refresh".into(), serde_json::to_value(&o).expect("json"));
    }
    let out_dir = std::env::var_os("BENCH_OUT_DIR").map(PathBuf::from).unwrap_or_else(|| target.join("bench"));
    std::fs::create_dir_all(&out_dir).expect("target/bench");
    let m = machine();
    let md = table(&b.figures);
    let json = serde_json::json!({
        "machine": m,
        "generated_unix": seed::now(),
        "duration_secs": started.elapsed().as_secs(),
        "runs": b.runs,
        "figures": b.figures,
        "details": b.details,
    });
    std::fs::write(out_dir.join("results.json"), serde_json::to_string_pretty(&json).expect("json"))
        .expect("results.json");
    std::fs::write(out_dir.join("results.md"), format!("Machine: {}\n\n{md}", m["summary"].as_str().unwrap_or("")))
        .expect("results.md");
    println!("Machine: {}\n", m["summary"].as_str().unwrap_or(""));
    println!("{md}");
    eprintln!(
        "latchkey-bench: done in {} s; figures in {}",
        started.elapsed().as_secs(),
        out_dir.join("results.json").display()
    );
    drop(provider);
    if std::env::var_os("BENCH_KEEP_WORK").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
}
