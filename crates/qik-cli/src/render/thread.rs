//! Sharing a [`Renderer`] between the runner's workers.
//!
//! Workers render their own events under a lock instead of sending them to a
//! render thread: a cached run reports thousands of events in milliseconds,
//! and a hand-off per event (wake a thread, switch to it, switch back) cost
//! more than rendering it. A slow stdout still slows the run down rather than
//! filling memory, as a bounded queue would.

use std::sync::Mutex;
use std::time::Duration;

use qik_core::events::{Event, EventSink};

use super::{Ended, Renderer};

/// The [`EventSink`] handed to the runner.
pub(crate) struct RenderSink {
    renderer: Mutex<Renderer>,
    /// Whether output lines are shown as they come (read once: fixed per run).
    live_output: bool,
    /// Whether a report wants each runnable's hash (fixed per run).
    hashes: bool,
}

impl EventSink for RenderSink {
    fn emit(&self, event: Event) {
        // A panic while rendering leaves a renderer that can still print.
        let mut renderer = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
        renderer.handle(event);
    }

    fn wants_output(&self) -> bool {
        self.live_output
    }

    fn wants_hashes(&self) -> bool {
        self.hashes
    }
}

impl Renderer {
    /// Makes the renderer usable from the runner's workers.
    pub(crate) fn share(self) -> RenderSink {
        let live_output = self.wants_output();
        let hashes = self.wants_hashes();
        RenderSink {
            renderer: Mutex::new(self),
            live_output,
            hashes,
        }
    }
}

impl RenderSink {
    /// Renders what is kept for the end and prints the summary.
    pub(crate) fn finish(self, wall: Duration) -> Ended {
        let renderer = self
            .renderer
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        renderer.end(wall)
    }
}
