// Keeps a console window from opening beside the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    #[cfg(target_os = "linux")]
    {
        paint_on_the_cpu_without_a_gpu();
        no_memory_pressure_polling();
    }
    latchkey_app::run()
}

/// WebKitGTK watches memory pressure by polling: the app process reads the system's memory
/// figures on a thread of its own (~8 ms a minute), and the web process reads its own
/// `/proc/self/smaps` every 30 s (`WTF::memoryFootprint`). That read walks the process's page
/// tables, so it costs in proportion to the memory mapped: about 26 ms of the window's idle
/// minute, more than the window's own work (`make bench` and `perf`, README "Performance").
/// What it buys is a page told to drop its caches when the system runs short, and killed past
/// a memory limit; this window's page is its own small list, not content from the web, so it
/// goes without. WebKitGTK's variable turns off both. A person's own setting is kept (`0`
/// turns WebKit's monitor back on).
///
/// An environment variable: WebKitGTK reads it when the web context starts, and passes the
/// choice on to the web process.
#[cfg(target_os = "linux")]
fn no_memory_pressure_polling() {
    set_unless_present("WEBKIT_DISABLE_MEMORY_PRESSURE_MONITOR");
}

/// Sets `var` to `1` unless the person set it already.
#[cfg(target_os = "linux")]
fn set_unless_present(var: &str) {
    if std::env::var_os(var).is_none() {
        // SAFETY: called at start, before any thread exists.
        unsafe { std::env::set_var(var, "1") };
    }
}

/// WebKitGTK (2.46 and later) paints the page with Skia on the GPU. Without a GPU render node
/// (Xvfb, most VMs, remote desktops) that GPU is Mesa's software rasteriser, llvmpipe: the
/// painting then costs ~35 MiB of PSS more than Skia's own CPU painting (`make bench`, README
/// "Performance") and is no faster. Where there is no render node the window paints on the
/// CPU; compositing stays on (turning it off saved more but made every WebDriver action wait,
/// README "Performance"). A person's own setting of the variable is kept.
///
/// An environment variable, not a `WebKitSettings` call: WebKitGTK offers no setting for it,
/// and the web process reads it from the environment it inherits from this one.
#[cfg(target_os = "linux")]
fn paint_on_the_cpu_without_a_gpu() {
    if !has_render_node() {
        set_unless_present("WEBKIT_SKIA_ENABLE_CPU_RENDERING");
    }
}

/// Whether a GPU render node (`/dev/dri/renderD*`) exists.
#[cfg(target_os = "linux")]
fn has_render_node() -> bool {
    std::fs::read_dir("/dev/dri")
        .map(|dir| dir.flatten().any(|e| e.file_name().to_string_lossy().starts_with("renderD")))
        .unwrap_or(false)
}
