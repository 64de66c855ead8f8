//! Running a [`Renderer`] on its own thread, fed by the runner's workers.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;
use qik_core::events::{Event, EventSink};

use super::{Renderer, Summary};

/// Events in flight before workers wait for the terminal. Bounded, so a slow
/// stdout slows the run down instead of filling memory with output lines.
const QUEUE: usize = 4096;

/// The [`EventSink`] handed to the runner; sends events to the render thread.
pub(crate) struct RenderSink {
    tx: Sender<Event>,
}

impl EventSink for RenderSink {
    fn emit(&self, event: Event) {
        // The render thread only stops once every sink is gone.
        let _ = self.tx.send(event);
    }
}

/// The render thread; [`RenderThread::finish`] ends it.
pub(crate) struct RenderThread {
    handle: JoinHandle<Renderer>,
}

impl Renderer {
    /// Moves the renderer to a thread of its own; the runner's workers emit
    /// into the returned sink.
    pub(crate) fn spawn(self) -> (RenderSink, RenderThread) {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let handle = std::thread::Builder::new()
            .name("qik-render".to_owned())
            .spawn(move || {
                let mut renderer = self;
                for event in rx {
                    renderer.handle(event);
                }
                renderer
            })
            .expect("spawn the render thread");
        (RenderSink { tx }, RenderThread { handle })
    }
}

impl RenderThread {
    /// Closes the sink, renders what is left, and prints the summary.
    pub(crate) fn finish(self, sink: RenderSink, wall: Duration) -> Summary {
        drop(sink);
        match self.handle.join() {
            Ok(renderer) => renderer.finish(wall),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}
