//! The one place Latchkey reads the wall clock (the jiff / oauth2-rs `now()` choke point).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds.
pub type Timestamp = i64;

/// A wall clock that tests can replace.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

impl Clock {
    /// The system's wall clock.
    pub fn system() -> Self {
        Self(Arc::new(|| SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)))
    }

    /// A clock that tests move by hand; returns the clock and its handle.
    pub fn manual(start: Timestamp) -> (Self, Arc<AtomicI64>) {
        let t = Arc::new(AtomicI64::new(start));
        let read = t.clone();
        (Self(Arc::new(move || read.load(Ordering::SeqCst))), t)
    }

    /// A clock that follows tokio's time from `start`: with `tokio::time::pause()` a test moves
    /// the wall clock and the refresher's timers together.
    pub fn tokio_based(start: Timestamp) -> Self {
        let base = tokio::time::Instant::now();
        Self(Arc::new(move || start + base.elapsed().as_secs() as i64))
    }

    /// Now, in unix seconds.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}
