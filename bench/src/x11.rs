//! "Window mapped", observed from outside: a thread that selects SubstructureNotify on the root
//! window of `$DISPLAY` and reports every MapNotify of a top-level window, with the window's
//! `_NET_WM_PID` and the wall-clock time the event arrived. No polling, no extra processes.

use std::ffi::CString;
use std::sync::mpsc::{Receiver, channel};
use std::time::SystemTime;

use x11_dl::xlib;

/// A top-level window was mapped.
#[derive(Debug, Clone, Copy)]
pub struct Mapped {
    /// Its `_NET_WM_PID` (0 when the window has none).
    pub pid: i32,
    /// When the event arrived.
    pub at: SystemTime,
}

/// Starts the watcher thread; the receiver gets one message per mapped top-level window.
pub fn watch_maps() -> Result<Receiver<Mapped>, String> {
    let (tx, rx) = channel();
    let (ready_tx, ready_rx) = channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("x11-maps".into())
        .spawn(move || {
            let xl = match xlib::Xlib::open() {
                Ok(x) => x,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("cannot load libX11: {e}")));
                    return;
                }
            };
            // SAFETY: plain Xlib calls on a display this thread alone uses; every pointer
            // passed is valid for the call, and property data is freed with XFree.
            unsafe {
                let dpy = (xl.XOpenDisplay)(std::ptr::null());
                if dpy.is_null() {
                    let _ = ready_tx.send(Err("cannot open $DISPLAY".into()));
                    return;
                }
                let root = (xl.XDefaultRootWindow)(dpy);
                (xl.XSelectInput)(dpy, root, xlib::SubstructureNotifyMask);
                let name = CString::new("_NET_WM_PID").expect("no NUL");
                let pid_atom = (xl.XInternAtom)(dpy, name.as_ptr(), 0);
                (xl.XFlush)(dpy);
                let _ = ready_tx.send(Ok(()));
                let mut ev: xlib::XEvent = std::mem::zeroed();
                loop {
                    (xl.XNextEvent)(dpy, &mut ev);
                    if ev.get_type() != xlib::MapNotify {
                        continue;
                    }
                    let at = SystemTime::now();
                    let map = ev.map;
                    if map.override_redirect != 0 {
                        continue;
                    }
                    let mut actual_type = 0;
                    let mut actual_format = 0;
                    let mut n = 0;
                    let mut after = 0;
                    let mut data: *mut u8 = std::ptr::null_mut();
                    let mut pid = 0;
                    let ok = (xl.XGetWindowProperty)(
                        dpy,
                        map.window,
                        pid_atom,
                        0,
                        1,
                        0,
                        xlib::XA_CARDINAL,
                        &mut actual_type,
                        &mut actual_format,
                        &mut n,
                        &mut after,
                        &mut data,
                    );
                    if ok == 0 && !data.is_null() {
                        if n == 1 && actual_format == 32 {
                            // Format-32 properties come back as C longs.
                            pid = *(data as *const std::os::raw::c_long) as i32;
                        }
                        (xl.XFree)(data.cast());
                    }
                    if tx.send(Mapped { pid, at }).is_err() {
                        return;
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
    ready_rx.recv().map_err(|e| e.to_string())??;
    Ok(rx)
}
