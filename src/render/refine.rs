//! Progressive refinement: a background job fills the overlay volume coarse → fine (8 → 4 → 2 →
//! 1 mm by default), sending each level as it completes, so a view shows something at once and
//! sharpens while the user looks. Dropping or cancelling the job (a new image, a new subject)
//! stops it at the next chunk of points.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::query::{GridPrediction, ImageQuery, QueryError, Region};
use crate::space::Grid;

/// The default levels, mm.
pub const DEFAULT_LEVELS: [f64; 4] = [8.0, 4.0, 2.0, 1.0];

/// One completed level.
#[derive(Debug, Clone)]
pub struct RefinedLevel {
    /// Grid spacing, mm.
    pub spacing_mm: f64,
    /// The prediction on the MNI grid of that spacing.
    pub prediction: GridPrediction,
    /// Seconds from the job's start to this level.
    pub seconds: f64,
}

/// What a refinement job sends.
#[derive(Debug)]
pub enum RefineMessage {
    /// A level is ready.
    Level(Box<RefinedLevel>),
    /// The job failed; no further levels follow.
    Failed(String),
}

/// A running refinement; cancelled when dropped.
pub struct RefinementJob {
    receiver: Receiver<RefineMessage>,
    cancel: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RefinementJob {
    /// Starts computing `levels` (coarse first) of `query` in `region` on a background thread;
    /// `wake` is called after each message is sent (a UI repaint, so that no level waits unseen).
    pub fn start(
        query: ImageQuery,
        levels: Vec<f64>,
        region: Region,
        wake: impl Fn() + Send + 'static,
    ) -> Self {
        let (sender, receiver) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancel);
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            for spacing_mm in levels {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let result = Grid::mni(spacing_mm)
                    .map_err(|e| e.to_string())
                    .and_then(|grid| {
                        query
                            .query_grid_with_progress(&grid, region, &mut |_, _| {
                                !stop.load(Ordering::Relaxed)
                            })
                            .map_err(|e| match e {
                                QueryError::Cancelled => String::new(),
                                other => other.to_string(),
                            })
                    });
                let message = match result {
                    Ok(prediction) => RefineMessage::Level(Box::new(RefinedLevel {
                        spacing_mm,
                        prediction,
                        seconds: started.elapsed().as_secs_f64(),
                    })),
                    Err(e) if e.is_empty() => return,
                    Err(e) => RefineMessage::Failed(e),
                };
                let failed = matches!(message, RefineMessage::Failed(_));
                // A closed channel means nobody listens any more: stop.
                if sender.send(message).is_err() {
                    return;
                }
                wake();
                if failed {
                    return;
                }
            }
        });
        Self {
            receiver,
            cancel,
            thread: Some(thread),
        }
    }

    /// The next message if one is ready (never blocks: for a UI thread).
    pub fn poll(&self) -> Option<RefineMessage> {
        self.receiver.try_recv().ok()
    }

    /// Waits for the next message; `None` once the job has finished.
    pub fn wait(&self) -> Option<RefineMessage> {
        self.receiver.recv().ok()
    }

    /// Asks the job to stop at its next chunk of points.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Drop for RefinementJob {
    fn drop(&mut self) {
        self.cancel();
        // The thread stops within a chunk; it is not joined, so dropping never blocks the caller.
        drop(self.thread.take());
    }
}
