// Keeps a console window from opening beside the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // WebKitGTK's accelerated compositing draws the page through OpenGL; where there is no GPU
    // (Xvfb, many VMs: Mesa's software renderer) that costs ~80 MiB of PSS for a page that is a
    // list of text (`make bench`, README "Performance"). Latchkey's window has no animation or
    // 3D that needs it, so it is off unless the person chose otherwise.
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_COMPOSITING_MODE").is_none() {
        // SAFETY: the first thing the process does, before any thread exists.
        unsafe { std::env::set_var("WEBKIT_DISABLE_COMPOSITING_MODE", "1") };
    }
    latchkey_app::run()
}
