//! What the benchmark reads from /proc: process trees, memory (smaps_rollup), CPU time and
//! context switches.

use std::collections::HashMap;
use std::fs;

/// A process id.
pub type Pid = i32;

/// The parent of every process now running.
fn parents() -> HashMap<Pid, Pid> {
    let mut out = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else { return out };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<Pid>().ok()) else { continue };
        if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|s| s.parse().ok())) {
            out.insert(pid, ppid);
        }
    }
    out
}

/// `pid` and all its descendants.
pub fn tree(pid: Pid) -> Vec<Pid> {
    let parents = parents();
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        let mut kids: Vec<Pid> = parents.iter().filter(|&(_, &pp)| pp == p).map(|(&c, _)| c).collect();
        kids.sort_unstable();
        out.extend(kids);
        i += 1;
    }
    out
}

/// The fields of /proc/PID/stat after the command name (field 3 onwards: state, ppid, …).
fn stat_fields(pid: Pid) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Every process whose command name starts with `prefix`.
pub fn pids_by_comm(prefix: &str) -> Vec<Pid> {
    let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<Pid>().ok()))
        .filter(|&pid| comm(pid).starts_with(prefix))
        .collect()
}

/// The command name.
pub fn comm(pid: Pid) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// Whether the process exists (and is not a zombie).
pub fn alive(pid: Pid) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|s| s != "Z"))
}

/// Resident and proportional set size in KiB, from /proc/PID/smaps_rollup.
pub fn memory_kib(pid: Pid) -> Option<(u64, u64)> {
    let s = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> Option<u64> {
        s.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok())
    };
    Some((field("Rss:")?, field("Pss:")?))
}

/// PSS in KiB of one process by mapping kind, largest first: what /proc/PID/smaps says each
/// mapping holds, grouped by its name (a file's name without its directory and version,
/// `[heap]`, `[anon]` for unnamed anonymous memory, `memfd:…`, `/dev/dri/…`).
pub fn pss_by_mapping(pid: Pid) -> Vec<(String, u64)> {
    let Ok(s) = fs::read_to_string(format!("/proc/{pid}/smaps")) else { return Vec::new() };
    let mut by: HashMap<String, u64> = HashMap::new();
    let mut current = String::from("[anon]");
    for line in s.lines() {
        let mut parts = line.split_whitespace();
        let Some(first) = parts.next() else { continue };
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // A mapping's header: address perms offset dev inode [name].
            let name: Vec<&str> = line.split_whitespace().skip(5).collect();
            current = mapping_kind(&name.join(" "));
        } else if first == "Pss:" {
            *by.entry(current.clone()).or_default() += parts.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    let mut v: Vec<(String, u64)> = by.into_iter().filter(|(_, k)| *k > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// The group a mapping's name falls in (see [`pss_by_mapping`]).
fn mapping_kind(name: &str) -> String {
    let name = name.trim_end_matches(" (deleted)");
    if name.is_empty() {
        return "[anon]".into();
    }
    if name.starts_with('[') || name.starts_with("/dev/") || name.starts_with("/memfd:") || name.starts_with("memfd:") {
        return name.split(" (").next().unwrap_or(name).to_owned();
    }
    let base = name.rsplit('/').next().unwrap_or(name);
    // libfoo.so.1.2.3 → libfoo.so
    match base.find(".so") {
        Some(i) => base[..i + 3].to_owned(),
        None => base.to_owned(),
    }
}

/// Memory of one process, by name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcMem {
    pub pid: Pid,
    pub comm: String,
    pub rss_kib: u64,
    pub pss_kib: u64,
}

/// Memory of every process in `pids`.
pub fn memory_of(pids: &[Pid]) -> Vec<ProcMem> {
    pids.iter()
        .filter_map(|&pid| {
            let (rss_kib, pss_kib) = memory_kib(pid)?;
            Some(ProcMem { pid, comm: comm(pid), rss_kib, pss_kib })
        })
        .collect()
}

fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// CPU use and wake-ups of one process at one moment.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    /// CPU time of the whole process (exited threads included), in ms to the nanosecond: the
    /// process's CPU-time clock (`clock_getcpuclockid`), or utime + stime (10-ms ticks) where
    /// that clock cannot be read.
    pub cpu_ms: f64,
    /// Per live thread (by thread id): run time from /proc/PID/task/TID/schedstat in ns, and
    /// voluntary + nonvoluntary context switches from its status.
    pub threads: HashMap<Pid, (u64, u64)>,
}

/// Run time and wake-ups between two samples of one process.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuDelta {
    /// CPU time in ms (see [`CpuSample::cpu_ms`]).
    pub cpu_ms: f64,
    /// Run time of the threads alive at the end, in ns (a thread started in between counts
    /// from zero; one that ended in between is not counted).
    pub sched_ns: u64,
    /// Context switches of the threads alive at the end, counted the same way.
    pub switches: u64,
}

/// The CPU time of a whole process in ns, from its CPU-time clock. The kernel sums the live
/// threads and those that ended, to the nanosecond; /proc's utime and stime are the same sum
/// cut to 10-ms ticks, too coarse for a goal of 10 ms a minute.
fn process_cpu_ns(pid: Pid) -> Option<u64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: clock_getcpuclockid writes one clockid_t through a valid pointer.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Samples one process.
pub fn cpu_sample(pid: Pid) -> Option<CpuSample> {
    let f = stat_fields(pid)?;
    let cpu_ms = match process_cpu_ns(pid) {
        Some(ns) => ns as f64 / 1e6,
        None => {
            // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 here (we start at field 3).
            let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            ticks as f64 * 1000.0 / clock_ticks_per_sec() as f64
        }
    };
    let mut threads = HashMap::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<Pid>().ok()) else { continue };
            let p = t.path();
            let sched_ns = fs::read_to_string(p.join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
                .unwrap_or(0);
            let mut switches = 0;
            if let Ok(s) = fs::read_to_string(p.join("status")) {
                for l in s.lines() {
                    if l.starts_with("voluntary_ctxt_switches:") || l.starts_with("nonvoluntary_ctxt_switches:") {
                        switches += l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                    }
                }
            }
            threads.insert(tid, (sched_ns, switches));
        }
    }
    Some(CpuSample { cpu_ms, threads })
}

/// Samples of every process in a tree, by pid.
pub fn cpu_tree(pids: &[Pid]) -> HashMap<Pid, CpuSample> {
    pids.iter().filter_map(|&p| cpu_sample(p).map(|s| (p, s))).collect()
}

/// What one process used between two samples (`before` is `None` for a process that started
/// in between). Thread by thread: summing the threads first would let one that ended cancel
/// the work of the others.
fn delta_of(before: Option<&CpuSample>, a: &CpuSample) -> CpuDelta {
    let mut d = CpuDelta { cpu_ms: (a.cpu_ms - before.map_or(0.0, |b| b.cpu_ms)).max(0.0), ..CpuDelta::default() };
    for (tid, &(sched, sw)) in &a.threads {
        let (sched0, sw0) = before.and_then(|b| b.threads.get(tid)).copied().unwrap_or((0, 0));
        d.sched_ns += sched.saturating_sub(sched0);
        d.switches += sw.saturating_sub(sw0);
    }
    d
}

/// What a tree used between two samples (processes that appeared in between count from zero).
pub fn cpu_delta(before: &HashMap<Pid, CpuSample>, after: &HashMap<Pid, CpuSample>) -> CpuDelta {
    let mut d = CpuDelta::default();
    for (pid, a) in after {
        let x = delta_of(before.get(pid), a);
        d.cpu_ms += x.cpu_ms;
        d.sched_ns += x.sched_ns;
        d.switches += x.switches;
    }
    d
}

/// What each program in a tree used between two samples, in ms of CPU, by command name
/// ("WebKitWebProces 40.2, latchkey 10.1").
pub fn cpu_by_comm(before: &HashMap<Pid, CpuSample>, after: &HashMap<Pid, CpuSample>) -> String {
    let mut by: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    for (pid, a) in after {
        *by.entry(comm(*pid)).or_default() += delta_of(before.get(pid), a).cpu_ms;
    }
    by.iter().map(|(c, ms)| format!("{c} {ms:.1}")).collect::<Vec<_>>().join(", ")
}

/// What the threads of a tree ran between two samples, in ms, by process and thread name,
/// largest first, those over `min_ms` ("WebKitWebProces/HeapHelper 12.0, …"): which part of
/// WebKit (its main thread, the JavaScript heap's collector and helpers, painting) a minute went
/// to. Threads that ended in between are not counted.
pub fn cpu_by_thread(before: &HashMap<Pid, CpuSample>, after: &HashMap<Pid, CpuSample>, min_ms: f64) -> String {
    let mut by: HashMap<String, f64> = HashMap::new();
    for (pid, a) in after {
        let process = comm(*pid);
        for (tid, &(sched, _)) in &a.threads {
            let sched0 = before.get(pid).and_then(|b| b.threads.get(tid)).map_or(0, |t| t.0);
            let name = fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
            *by.entry(format!("{process}/{}", name.trim())).or_default() += sched.saturating_sub(sched0) as f64 / 1e6;
        }
    }
    let mut v: Vec<(String, f64)> = by.into_iter().filter(|(_, ms)| *ms >= min_ms).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v.iter().map(|(c, ms)| format!("{c} {ms:.1}")).collect::<Vec<_>>().join(", ")
}

/// Sends `sig` to `pid`.
pub fn signal(pid: Pid, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}
