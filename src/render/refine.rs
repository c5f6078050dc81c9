//! Progressive refinement: a background job fills the overlay volume coarse → fine, sending each
//! level as it completes, so a view shows something at once and sharpens while the user looks.
//!
//! The levels are planned from the model's measured cost on its device ([`plan_levels`]): a
//! small model starts at 4 mm and halves the spacing down to 1 mm, an official-size one on a
//! CPU starts at 16 mm so that its first picture still comes within a second, and
//! refines in smaller steps, each with its points and an estimate of its time. After each level
//! the rest is planned again from the rate that level achieved. Dropping or cancelling the job
//! (a new image, a new model) stops it at the next chunk of points.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::Instant;

use glam::Vec3;

use crate::query::{GridPrediction, ModelQuery, QueryError, Region};
use crate::space::{BoundingBox, Grid};

/// The fixed levels of old, mm (tests and benchmarks that compare with earlier numbers).
pub const DEFAULT_LEVELS: [f64; 4] = [8.0, 4.0, 2.0, 1.0];

/// Spacings the planner chooses from, coarse to fine, mm.
pub const CANDIDATE_SPACINGS: [f64; 9] = [16.0, 12.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.0];

/// Seconds the first level may take at the rate it is planned with: the first picture comes
/// within about this after the features.
pub const FIRST_LEVEL_SECONDS: f64 = 0.05;

/// A planned level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlannedLevel {
    /// Grid spacing, mm.
    pub spacing_mm: f64,
    /// Points to evaluate (inside the region).
    pub points: usize,
    /// Estimated seconds at the measured rate.
    pub seconds: f64,
}

/// Plans the levels down to `finest_mm`, from the finest back: each coarser level has about
/// an eighth of the points of the next (a model quick enough to reach the finest level within
/// two seconds: spacing halves) or about 1/2.3 of them (a slow model, which then sharpens in
/// steps a user can wait for), until a level takes at most `first_budget_s` at
/// `points_per_second` — or the coarsest candidate is reached. `points_at(spacing)` gives a
/// level's points. The plan runs coarse to fine and always ends at the finest level.
pub fn plan_levels(
    points_per_second: f64,
    points_at: &dyn Fn(f64) -> usize,
    finest_mm: f64,
    first_budget_s: f64,
) -> Vec<PlannedLevel> {
    let rate = points_per_second.max(1e-9);
    let mut candidates: Vec<f64> = CANDIDATE_SPACINGS
        .iter()
        .copied()
        .filter(|&s| s > finest_mm)
        .collect();
    candidates.push(finest_mm);
    let levels: Vec<PlannedLevel> = candidates
        .into_iter()
        .map(|spacing_mm| {
            let points = points_at(spacing_mm);
            PlannedLevel {
                spacing_mm,
                points,
                seconds: points as f64 / rate,
            }
        })
        .collect();
    let finest = levels[levels.len() - 1];
    // Halving the spacing gives 8× the points; grids of a region count a little under that.
    let step = if finest.seconds <= 2.0 { 7.0 } else { 2.3 };
    let mut plan = vec![finest];
    while plan[0].seconds > first_budget_s {
        let next = plan[0];
        let coarser = levels
            .iter()
            .filter(|l| l.spacing_mm > next.spacing_mm)
            .filter(|l| l.points as f64 * step <= next.points as f64)
            .max_by_key(|l| l.points)
            .or_else(|| levels.first().filter(|l| l.spacing_mm > next.spacing_mm));
        match coarser {
            Some(level) => plan.insert(0, *level),
            None => break,
        }
    }
    plan
}

/// Points per second of `query` on its device, measured: a few points first (a GPU compiles
/// its kernels then), then batches four times larger until one takes 10 ms or fills a chunk.
pub fn measure_points_per_second(query: &ModelQuery) -> Result<f64, QueryError> {
    // Points spread through the template's box, the same every time.
    let bbox = BoundingBox::MNI_TEMPLATE;
    let most = 16_384;
    let probe: Vec<Vec3> = (0..most)
        .map(|i| {
            let f = |k: u32| ((i as u32).wrapping_mul(k) % 1000) as f64 / 1000.0;
            let t = glam::DVec3::new(f(7919), f(104_729), f(1_299_709));
            (bbox.min + t * bbox.size()).as_vec3()
        })
        .collect();
    query.query_points(&probe[..16])?;
    let mut n = 64;
    loop {
        let started = Instant::now();
        query.query_points(&probe[..n])?;
        let seconds = started.elapsed().as_secs_f64();
        if seconds >= 0.01 || n >= most {
            return Ok(n as f64 / seconds.max(1e-9));
        }
        n = (n * 4).min(most);
    }
}

/// How a refinement chooses its levels.
#[derive(Debug, Clone)]
pub enum Levels {
    /// These spacings, in order.
    Fixed(Vec<f64>),
    /// Planned by [`plan_levels`] from a measured rate (points/s), down to the finest spacing,
    /// and planned again after each level from the rate it achieved.
    Planned {
        /// The rate measured before the first level ([`measure_points_per_second`]).
        points_per_second: f64,
        /// The finest spacing, mm.
        finest_mm: f64,
        /// Seconds the first level may take.
        first_budget_s: f64,
    },
}

/// One completed level.
#[derive(Debug, Clone)]
pub struct RefinedLevel {
    /// Grid spacing, mm.
    pub spacing_mm: f64,
    /// The prediction on the MNI grid of that spacing.
    pub prediction: GridPrediction,
    /// Seconds from the job's start to this level.
    pub seconds: f64,
    /// The device that computed it (the query's).
    pub computed_on: burn::tensor::Device,
}

/// What a refinement job sends.
#[derive(Debug)]
pub enum RefineMessage {
    /// The levels still to come, as planned now (sent before the first and after each level).
    Plan(Vec<PlannedLevel>),
    /// Progress within a level: points done of the level's total, and the estimated seconds
    /// left of it.
    Progress {
        /// The level's spacing, mm.
        spacing_mm: f64,
        /// Points done.
        done: usize,
        /// The level's points.
        total: usize,
        /// Estimated seconds left of this level.
        eta_seconds: f64,
    },
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

/// The points of `region` on the MNI grid of `spacing_mm`, estimated from one exact count at
/// 4 mm (a count costs about as much at any spacing — it visits every training voxel of a
/// domain — and the counts scale with 1/spacing³ within a few per cent down to 1 mm).
fn region_points(query: &ModelQuery, region: Region) -> impl Fn(f64) -> usize + use<> {
    let at_4mm = Grid::mni(4.0)
        .ok()
        .and_then(|grid| query.region_mask(&grid, region).ok())
        .map_or(0, |(mask, _)| mask.data.iter().filter(|&&b| b).count());
    move |spacing_mm: f64| (at_4mm as f64 * (4.0 / spacing_mm).powi(3)).round() as usize
}

impl RefinementJob {
    /// Starts computing the `levels` of `query` in `region` on a background thread; `wake` is
    /// called after each message is sent (a UI repaint, so that nothing waits unseen).
    pub fn start(
        query: impl Into<ModelQuery>,
        levels: Levels,
        region: Region,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        let query: ModelQuery = query.into();
        let (sender, receiver) = mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancel);
        let thread = std::thread::spawn(move || {
            // Levels are background work: a window drawing meanwhile comes first.
            crate::device::yield_to_the_window();
            let send = |message| {
                // A closed channel means nobody listens any more.
                let listening = sender.send(message).is_ok();
                wake();
                listening
            };
            let started = Instant::now();
            // Planned levels: each level's points (estimated), the finest spacing and the rate
            // the rest is planned with after each level.
            let (mut plan, mut replanning) = match levels {
                Levels::Fixed(spacings) => (
                    spacings
                        .into_iter()
                        .map(|spacing_mm| PlannedLevel {
                            spacing_mm,
                            points: 0,
                            seconds: 0.0,
                        })
                        .collect(),
                    None,
                ),
                Levels::Planned {
                    points_per_second,
                    finest_mm,
                    first_budget_s,
                } => {
                    let points_at = region_points(&query, region);
                    let plan =
                        plan_levels(points_per_second, &points_at, finest_mm, first_budget_s);
                    (plan, Some((points_at, finest_mm, points_per_second)))
                }
            };
            while !plan.is_empty() {
                if stop.load(Ordering::Relaxed) || !send(RefineMessage::Plan(plan.clone())) {
                    return;
                }
                let level = plan.remove(0);
                let level_started = Instant::now();
                let mut last_progress = Instant::now();
                let result = Grid::mni(level.spacing_mm)
                    .map_err(|e| e.to_string())
                    .and_then(|grid| {
                        query
                            .query_grid_with_progress(&grid, region, &mut |done, total| {
                                if last_progress.elapsed().as_secs_f64() >= 0.25 && done < total {
                                    last_progress = Instant::now();
                                    let elapsed = level_started.elapsed().as_secs_f64();
                                    let eta_seconds =
                                        elapsed / done.max(1) as f64 * (total - done) as f64;
                                    send(RefineMessage::Progress {
                                        spacing_mm: level.spacing_mm,
                                        done,
                                        total,
                                        eta_seconds,
                                    });
                                }
                                !stop.load(Ordering::Relaxed)
                            })
                            .map_err(|e| match e {
                                QueryError::Cancelled => String::new(),
                                other => other.to_string(),
                            })
                    });
                let prediction = match result {
                    Ok(prediction) => prediction,
                    Err(e) if e.is_empty() => return,
                    Err(e) => {
                        send(RefineMessage::Failed(e));
                        return;
                    }
                };
                let points = prediction.inside.data.iter().filter(|&&b| b).count();
                let seconds = level_started.elapsed().as_secs_f64();
                let message = RefineMessage::Level(Box::new(RefinedLevel {
                    spacing_mm: level.spacing_mm,
                    prediction,
                    seconds: started.elapsed().as_secs_f64(),
                    computed_on: query.device(),
                }));
                if !send(message) {
                    return;
                }
                // The rest, planned again from the rate this level achieved (levels of a few
                // points say little: keep the measured rate then).
                if let Some((points_at, finest_mm, rate)) = &mut replanning
                    && !plan.is_empty()
                {
                    if points >= 256 {
                        *rate = points as f64 / seconds.max(1e-9);
                    }
                    // Steps between the level just done and the finest, at the new rate.
                    plan = plan_levels(*rate, &*points_at, *finest_mm, 0.0)
                        .into_iter()
                        .filter(|l| l.spacing_mm < level.spacing_mm)
                        .collect();
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

    /// Waits for the next level, skipping plans and progress; `None` once the job has
    /// finished, an error when it failed.
    pub fn next_level(&self) -> Option<Result<Box<RefinedLevel>, String>> {
        loop {
            match self.wait()? {
                RefineMessage::Level(level) => return Some(Ok(level)),
                RefineMessage::Failed(e) => return Some(Err(e)),
                RefineMessage::Plan(_) | RefineMessage::Progress { .. } => {}
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Points of a brain-sized region: about 1.4 million at 1 mm, scaling with 1/spacing³.
    fn brain(spacing: f64) -> usize {
        (1.4e6 / spacing.powi(3)).round() as usize
    }

    fn spacings(plan: &[PlannedLevel]) -> Vec<f64> {
        plan.iter().map(|l| l.spacing_mm).collect()
    }

    #[test]
    fn the_first_level_fits_the_budget_and_levels_go_coarse_to_fine() {
        for rate in [300.0, 750.0, 5e3, 5e4, 3e5, 3e6, 3e7] {
            for finest in [1.0, 2.0, 4.0] {
                let plan = plan_levels(rate, &brain, finest, 1.0);
                let first = plan[0];
                // Within the budget, or the coarsest candidate when nothing fits.
                assert!(
                    first.seconds <= 1.0 || first.spacing_mm == CANDIDATE_SPACINGS[0],
                    "rate {rate}: first level {first:?}"
                );
                // No coarser level than needed: the one after the first would not fit.
                if let Some(second) = plan.get(1) {
                    assert!(second.seconds > 1.0, "rate {rate}: {plan:?}");
                }
                assert!(
                    plan.windows(2).all(|w| w[0].spacing_mm > w[1].spacing_mm),
                    "rate {rate}: not coarse to fine: {plan:?}"
                );
                assert_eq!(plan[plan.len() - 1].spacing_mm, finest, "{plan:?}");
                for level in &plan {
                    assert_eq!(level.points, brain(level.spacing_mm));
                    assert!((level.seconds - level.points as f64 / rate).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn a_quick_model_jumps_to_the_finest_level_and_a_slow_one_refines_in_small_steps() {
        // A quick model (the whole brain at 1 mm within a second): the spacing halves from a
        // level that fits the budget.
        let quick = plan_levels(1.5e6, &brain, 1.0, FIRST_LEVEL_SECONDS);
        assert_eq!(spacings(&quick), vec![4.0, 2.0, 1.0]);
        // An official-size model on a 2-core CPU: ~750 points/s.
        let slow = plan_levels(750.0, &brain, 1.0, 1.0);
        assert_eq!(slow[0].spacing_mm, 16.0, "{slow:?}");
        assert!(slow.len() >= 6, "small steps for a slow model: {slow:?}");
        assert!(
            slow.windows(2)
                .all(|w| w[1].points as f64 <= 3.5 * w[0].points as f64),
            "{slow:?}"
        );
    }

    #[test]
    fn a_finest_spacing_between_candidates_ends_the_plan() {
        let plan = plan_levels(1e4, &brain, 2.5, 1.0);
        assert_eq!(plan[plan.len() - 1].spacing_mm, 2.5);
        assert!(plan.iter().all(|l| l.spacing_mm >= 2.5));
    }
}
