//! Runs a DAG of jobs on a fixed pool of worker threads.
//!
//! Workers share one board (a mutex): each takes the lowest ready node, runs
//! it outside the lock, then records its result and takes the next one, so a
//! deterministic job gives a deterministic order on one worker, and thousands
//! of quick jobs (cache replays) cost no thread hand-offs. The calling thread
//! is a worker too. Everything is built before the threads start and the
//! threads live inside [`std::thread::scope`], so jobs may borrow freely.
//!
//! A node runs once all its upstream nodes are done and none failed; a failure
//! skips everything downstream of it. A stop flag (Ctrl-C) lets running jobs
//! finish but starts nothing new.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;

use thiserror::Error;

/// What became of one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeResult<R> {
    /// The job ran and returned this (which may itself count as failed).
    Done(R),
    /// Not run because an upstream node failed; `because` is the node whose
    /// job failed, however far upstream.
    Skipped { because: usize },
    /// Not run because the stop flag was set first.
    Stopped,
}

impl<R> NodeResult<R> {
    /// The job's result, if it ran.
    pub fn done(&self) -> Option<&R> {
        match self {
            NodeResult::Done(result) => Some(result),
            NodeResult::Skipped { .. } | NodeResult::Stopped => None,
        }
    }
}

/// The graph given to [`run_dag`] is not a DAG over its nodes. The config
/// layer reports these with names; this is a safety net.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ScheduleError {
    /// `upstream` does not have one entry per node.
    #[error("{upstream} upstream lists for {nodes} nodes")]
    LengthMismatch {
        /// The number of nodes.
        nodes: usize,
        /// The number of upstream lists.
        upstream: usize,
    },
    /// An upstream index is out of range.
    #[error("node {node} depends on node {upstream}, which does not exist")]
    UnknownNode {
        /// The node whose upstream list is wrong.
        node: usize,
        /// The index that is out of range.
        upstream: usize,
    },
    /// Nodes depend on each other in a circle.
    #[error("dependency cycle: {}", CyclePath(cycle))]
    Cycle {
        /// Each node depends on the next one, and the last on the first.
        cycle: Vec<usize>,
    },
}

struct CyclePath<'a>(&'a [usize]);

impl fmt::Display for CyclePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for node in self.0 {
            write!(f, "{node} needs ")?;
        }
        match self.0.first() {
            Some(first) => write!(f, "{first}"),
            None => Ok(()),
        }
    }
}

/// Runs `job` for every node of the DAG on `workers` threads (at least one,
/// at most one per node) and returns what became of each node, by index.
///
/// `upstream[i]` lists the nodes that must be done before node `i` starts.
/// `job(index, &nodes[index], worker)` gets a 1-based worker id that is
/// stable for its thread (the calling thread is worker 1), which makes it
/// usable as a slot number (for `QIK__WORKER` or a progress bar). A job that
/// wants its start observed reports it itself. `failed` decides whether a
/// result fails the node, which skips its dependents.
///
/// Once `stop` is set, no job starts: nodes not yet started are
/// [`NodeResult::Stopped`], running jobs finish (the process runner kills
/// their commands). A panicking job stops the run the same way, then the
/// panic resumes on the calling thread.
pub fn run_dag<T, R, J, F>(
    nodes: &[T],
    upstream: &[Vec<usize>],
    workers: usize,
    stop: &AtomicBool,
    job: J,
    failed: F,
) -> Result<Vec<NodeResult<R>>, ScheduleError>
where
    T: Sync,
    R: Send,
    J: Fn(usize, &T, usize) -> R + Sync,
    F: Fn(&R) -> bool + Sync,
{
    let plan = Plan::new(nodes.len(), upstream)?;
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let workers = workers.clamp(1, nodes.len());
    let board = Board::new(plan);
    let pool = Pool {
        nodes,
        stop,
        job: &job,
        failed: &failed,
        board: &board,
    };
    thread::scope(|scope| {
        for worker in 2..=workers {
            let pool = &pool;
            scope.spawn(move || pool.work(worker));
        }
        pool.work(1);
    });
    let state = board.state.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(payload) = state.panic {
        panic::resume_unwind(payload);
    }
    // Whatever is still open never started because of the stop flag.
    Ok(state
        .results
        .into_iter()
        .map(|result| result.unwrap_or(NodeResult::Stopped))
        .collect())
}

/// The shared bookkeeping. Workers take the lowest ready node themselves and
/// record its result on the way to the next one, so a run of quick jobs (cache
/// replays) costs one uncontended lock per node, not a round trip through
/// another thread.
struct Board<R> {
    state: Mutex<State<R>>,
    /// Signalled when nodes become ready or the last running job ends.
    wake: Condvar,
}

struct State<R> {
    plan: Plan,
    /// A set, not a queue: the lowest ready index goes first whatever order
    /// the nodes became ready in, so one worker runs a deterministic order.
    ready: BTreeSet<usize>,
    results: Vec<Option<NodeResult<R>>>,
    running: usize,
    /// Workers waiting on `wake`; nobody is woken (no syscall) when none are.
    sleeping: usize,
    panic: Option<Box<dyn Any + Send>>,
}

impl<R> Board<R> {
    fn new(plan: Plan) -> Self {
        let len = plan.waiting.len();
        let ready = (0..len).filter(|&n| plan.waiting[n] == 0).collect();
        Board {
            state: Mutex::new(State {
                plan,
                ready,
                results: (0..len).map(|_| None).collect(),
                running: 0,
                sleeping: 0,
                panic: None,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        // Jobs run outside the lock and panics are caught, so poisoning can
        // only come from a bug in the bookkeeping itself; its state is whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Pool<'a, T, R, J, F> {
    nodes: &'a [T],
    stop: &'a AtomicBool,
    job: &'a J,
    failed: &'a F,
    board: &'a Board<R>,
}

impl<T, R, J, F> Pool<'_, T, R, J, F>
where
    T: Sync,
    R: Send,
    J: Fn(usize, &T, usize) -> R + Sync,
    F: Fn(&R) -> bool + Sync,
{
    fn work(&self, worker: usize) {
        let board = self.board;
        let mut state = board.lock();
        loop {
            if self.stop.load(Ordering::SeqCst) || state.panic.is_some() {
                state.ready.clear();
            }
            if let Some(node) = state.ready.pop_first() {
                state.running += 1;
                drop(state);
                // Caught so the other workers hear about it instead of waiting
                // forever for this node.
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                    (self.job)(node, &self.nodes[node], worker)
                }));
                let bad = match &outcome {
                    Ok(result) => (self.failed)(result),
                    Err(_) => false,
                };
                state = board.lock();
                state.running -= 1;
                let before = state.ready.len();
                match outcome {
                    Ok(result) => state.finish(node, result, bad),
                    Err(payload) => {
                        state.panic.get_or_insert(payload);
                    }
                }
                let released = state.ready.len() > before + 1;
                if state.sleeping > 0 && (released || state.ended()) {
                    board.wake.notify_all();
                }
                continue;
            }
            if state.ended() {
                return;
            }
            state.sleeping += 1;
            state = board.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            state.sleeping -= 1;
        }
    }
}

impl<R> State<R> {
    /// Nothing runs and nothing can start: every worker may leave.
    fn ended(&self) -> bool {
        self.running == 0 && self.ready.is_empty()
    }

    fn finish(&mut self, node: usize, result: R, bad: bool) {
        self.results[node] = Some(NodeResult::Done(result));
        if bad {
            skip_downstream(node, &self.plan.downstream, &mut self.results);
            return;
        }
        for &down in &self.plan.downstream[node] {
            self.plan.waiting[down] -= 1;
            if self.plan.waiting[down] == 0 && self.results[down].is_none() {
                self.ready.insert(down);
            }
        }
    }
}

/// The graph in the shape the workers need.
struct Plan {
    downstream: Vec<Vec<usize>>,
    /// How many upstream edges of each node are not done yet; duplicates in
    /// an upstream list count (and are released) once per occurrence.
    waiting: Vec<usize>,
}

impl Plan {
    fn new(len: usize, upstream: &[Vec<usize>]) -> Result<Plan, ScheduleError> {
        if upstream.len() != len {
            return Err(ScheduleError::LengthMismatch {
                nodes: len,
                upstream: upstream.len(),
            });
        }
        let mut downstream = vec![Vec::new(); len];
        for (node, ups) in upstream.iter().enumerate() {
            for &up in ups {
                if up >= len {
                    return Err(ScheduleError::UnknownNode { node, upstream: up });
                }
                downstream[up].push(node);
            }
        }
        let plan = Plan {
            downstream,
            waiting: upstream.iter().map(Vec::len).collect(),
        };
        plan.check_acyclic(upstream)?;
        Ok(plan)
    }

    /// Kahn's algorithm; what it cannot order contains a cycle.
    fn check_acyclic(&self, upstream: &[Vec<usize>]) -> Result<(), ScheduleError> {
        let mut waiting = self.waiting.clone();
        let mut ready: Vec<usize> = (0..waiting.len()).filter(|&n| waiting[n] == 0).collect();
        while let Some(node) = ready.pop() {
            for &down in &self.downstream[node] {
                waiting[down] -= 1;
                if waiting[down] == 0 {
                    ready.push(down);
                }
            }
        }
        let Some(start) = waiting.iter().position(|&w| w > 0) else {
            return Ok(());
        };
        // Every unordered node still waits on an unordered upstream node, so
        // walking upstream from one must come back to a node already seen.
        let mut path = vec![start];
        let mut current = start;
        loop {
            current = upstream[current]
                .iter()
                .copied()
                .find(|&up| waiting[up] > 0)
                .expect("an unordered node waits on an unordered upstream node");
            if let Some(seen) = path.iter().position(|&n| n == current) {
                return Err(ScheduleError::Cycle {
                    cycle: path.split_off(seen),
                });
            }
            path.push(current);
        }
    }
}

/// Marks everything downstream of the failed node `failed` as skipped,
/// except nodes an earlier failure already skipped.
fn skip_downstream<R>(
    failed: usize,
    downstream: &[Vec<usize>],
    results: &mut [Option<NodeResult<R>>],
) {
    let mut stack = downstream[failed].clone();
    while let Some(node) = stack.pop() {
        if results[node].is_none() {
            results[node] = Some(NodeResult::Skipped { because: failed });
            stack.extend_from_slice(&downstream[node]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::{Barrier, Mutex};
    use std::time::{Duration, Instant};

    /// Runs a DAG of unit nodes whose job returns `code(node)` and records
    /// the order in which jobs ran; non-zero codes fail.
    fn run_codes(
        upstream: &[Vec<usize>],
        workers: usize,
        code: impl Fn(usize) -> i32 + Sync,
    ) -> (Vec<NodeResult<i32>>, Vec<usize>) {
        let nodes = vec![(); upstream.len()];
        let order = Mutex::new(Vec::new());
        let results = run_dag(
            &nodes,
            upstream,
            workers,
            &AtomicBool::new(false),
            |node, _, _| {
                order.lock().unwrap().push(node);
                code(node)
            },
            |&code| code != 0,
        )
        .unwrap();
        (results, order.into_inner().unwrap())
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mark {
        Start(usize),
        End(usize),
    }

    fn position(marks: &[Mark], mark: Mark) -> usize {
        marks.iter().position(|&m| m == mark).unwrap()
    }

    #[test]
    fn diamond_runs_in_dependency_order() {
        // 0 → {1, 2} → 3
        let upstream = vec![vec![], vec![0], vec![0], vec![1, 2]];
        for workers in [1, 2, 4] {
            let marks = Mutex::new(Vec::new());
            let results = run_dag(
                &["a", "b", "c", "d"],
                &upstream,
                workers,
                &AtomicBool::new(false),
                |node, name, _| {
                    marks.lock().unwrap().push(Mark::Start(node));
                    thread::sleep(Duration::from_millis(10));
                    marks.lock().unwrap().push(Mark::End(node));
                    name.to_uppercase()
                },
                |_| false,
            )
            .unwrap();
            let done: Vec<_> = results.iter().map(|r| r.done().unwrap().as_str()).collect();
            assert_eq!(done, ["A", "B", "C", "D"]);
            let marks = marks.into_inner().unwrap();
            let at = |mark| position(&marks, mark);
            assert!(at(Mark::End(0)) < at(Mark::Start(1)));
            assert!(at(Mark::End(0)) < at(Mark::Start(2)));
            assert!(at(Mark::End(1)) < at(Mark::Start(3)));
            assert!(at(Mark::End(2)) < at(Mark::Start(3)));
        }
    }

    #[test]
    fn one_worker_runs_ready_nodes_in_index_order() {
        // 0 waits for 3; 1 and 2 wait for 4.
        let upstream = vec![vec![3], vec![4], vec![4], vec![], vec![]];
        let (_, order) = run_codes(&upstream, 1, |_| 0);
        assert_eq!(order, [3, 0, 4, 1, 2]);
    }

    #[test]
    fn independent_jobs_overlap_on_two_workers() {
        let spans = Mutex::new(BTreeMap::new());
        run_dag(
            &[(), ()],
            &[vec![], vec![]],
            2,
            &AtomicBool::new(false),
            |node, _, _| {
                let start = Instant::now();
                thread::sleep(Duration::from_millis(300));
                spans.lock().unwrap().insert(node, (start, Instant::now()));
            },
            |_| false,
        )
        .unwrap();
        let spans = spans.into_inner().unwrap();
        let ((start0, end0), (start1, end1)) = (spans[&0], spans[&1]);
        assert!(start0 < end1 && start1 < end0, "both ran at once");
    }

    #[test]
    fn failure_skips_dependents_transitively_but_not_independent_nodes() {
        // 0 fails → 1 → 2; 3 → 4; 5 needs 2 and 3.
        let upstream = vec![vec![], vec![0], vec![1], vec![], vec![3], vec![2, 3]];
        for workers in [1, 3] {
            let (results, order) = run_codes(&upstream, workers, |node| i32::from(node == 0));
            use NodeResult::{Done, Skipped};
            assert_eq!(
                results,
                [
                    Done(1),
                    Skipped { because: 0 },
                    Skipped { because: 0 },
                    Done(0),
                    Done(0),
                    Skipped { because: 0 },
                ]
            );
            let mut ran = order;
            ran.sort_unstable();
            assert_eq!(ran, [0, 3, 4]);
        }
    }

    #[test]
    fn skipped_names_the_failed_node_not_the_nearest_one() {
        // 0 → 1 (fails) → 2 → 3
        let upstream = vec![vec![], vec![0], vec![1], vec![2]];
        let (results, _) = run_codes(&upstream, 2, |node| if node == 1 { 7 } else { 0 });
        assert_eq!(results[3], NodeResult::Skipped { because: 1 });
        assert_eq!(results[1], NodeResult::Done(7));
    }

    #[test]
    fn worker_ids_are_in_range_and_stable_per_thread() {
        let seen = Mutex::new(Vec::new());
        let nodes: Vec<usize> = (0..40).collect();
        run_dag(
            &nodes,
            &vec![vec![]; nodes.len()],
            3,
            &AtomicBool::new(false),
            |_, _, worker| {
                thread::sleep(Duration::from_millis(2));
                seen.lock().unwrap().push((thread::current().id(), worker));
            },
            |_| false,
        )
        .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 40);
        let mut by_thread = BTreeMap::new();
        for (thread, worker) in seen {
            assert!((1..=3).contains(&worker), "{worker}");
            let first = *by_thread.entry(format!("{thread:?}")).or_insert(worker);
            assert_eq!(first, worker, "one id per thread");
        }
        let ids: BTreeSet<usize> = by_thread.values().copied().collect();
        assert_eq!(ids.len(), by_thread.len(), "one thread per id");
    }

    #[test]
    fn more_workers_than_nodes_uses_low_ids() {
        let ids = Mutex::new(BTreeSet::new());
        run_dag(
            &[(), ()],
            &[vec![], vec![]],
            16,
            &AtomicBool::new(false),
            |_, _, worker| {
                ids.lock().unwrap().insert(worker);
            },
            |_| false,
        )
        .unwrap();
        assert!(ids.into_inner().unwrap().iter().all(|&w| w <= 2));
    }

    #[test]
    fn stop_starts_nothing_new() {
        // 0 → 1 → 2; job 0 sets the stop flag as Ctrl-C would.
        let stop = AtomicBool::new(false);
        let ran = Mutex::new(Vec::new());
        let results = run_dag(
            &[(), (), ()],
            &[vec![], vec![0], vec![1]],
            2,
            &stop,
            |node, _, _| {
                ran.lock().unwrap().push(node);
                stop.store(true, Ordering::SeqCst);
            },
            |_| false,
        )
        .unwrap();
        use NodeResult::{Done, Stopped};
        assert_eq!(results, [Done(()), Stopped, Stopped]);
        assert_eq!(ran.into_inner().unwrap(), [0]);
    }

    #[test]
    fn running_jobs_finish_after_stop() {
        // 0 and 1 run together; 0 sets the flag while 1 is still running.
        let stop = AtomicBool::new(false);
        let both_running = Barrier::new(2);
        let results = run_dag(
            &[(), (), ()],
            &[vec![], vec![], vec![0]],
            2,
            &stop,
            |node, _, _| {
                if node < 2 {
                    both_running.wait();
                }
                if node == 0 {
                    stop.store(true, Ordering::SeqCst);
                } else {
                    thread::sleep(Duration::from_millis(50));
                }
                node
            },
            |_| false,
        )
        .unwrap();
        use NodeResult::{Done, Stopped};
        assert_eq!(results, [Done(0), Done(1), Stopped]);
    }

    #[test]
    fn stop_before_start_runs_nothing() {
        let results = run_dag(
            &[(), ()],
            &[vec![], vec![0]],
            2,
            &AtomicBool::new(true),
            |_, _, _| panic!("must not run"),
            |_: &()| false,
        )
        .unwrap();
        assert_eq!(results, [NodeResult::Stopped, NodeResult::Stopped]);
    }

    fn check(upstream: &[Vec<usize>]) -> Result<Vec<NodeResult<()>>, ScheduleError> {
        let nodes = vec![(); upstream.len()];
        let stop = AtomicBool::new(false);
        run_dag(
            &nodes,
            upstream,
            2,
            &stop,
            |_, _, _| panic!("must not run"),
            |_| false,
        )
    }

    #[test]
    fn cycles_are_errors() {
        // 3 depends on the cycle 0 → 1 → 2 → 0 but is not part of it.
        let error = check(&[vec![2], vec![0], vec![1], vec![0]]).unwrap_err();
        let ScheduleError::Cycle { cycle } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(
            cycle.iter().copied().collect::<BTreeSet<_>>(),
            BTreeSet::from([0, 1, 2])
        );
        assert_eq!(
            error.to_string(),
            "dependency cycle: 0 needs 2 needs 1 needs 0"
        );

        let error = check(&[vec![], vec![1]]).unwrap_err();
        assert_eq!(error, ScheduleError::Cycle { cycle: vec![1] });
        assert_eq!(error.to_string(), "dependency cycle: 1 needs 1");
    }

    #[test]
    fn malformed_graphs_are_errors() {
        assert_eq!(
            check(&[vec![], vec![5]]).unwrap_err(),
            ScheduleError::UnknownNode {
                node: 1,
                upstream: 5
            }
        );
        let stop = AtomicBool::new(false);
        let error = run_dag(&[(), ()], &[vec![]], 1, &stop, |_, _, _| (), |_| false);
        assert_eq!(
            error.unwrap_err(),
            ScheduleError::LengthMismatch {
                nodes: 2,
                upstream: 1
            }
        );
    }

    #[test]
    fn empty_graphs_and_duplicate_edges() {
        assert_eq!(check(&[]).unwrap(), []);
        let (results, order) = run_codes(&[vec![], vec![0, 0]], 2, |_| 0);
        assert_eq!(results, [NodeResult::Done(0), NodeResult::Done(0)]);
        assert_eq!(order, [0, 1]);
    }

    #[test]
    #[should_panic(expected = "job exploded")]
    fn a_panicking_job_panics_the_caller_without_hanging() {
        run_dag(
            &[(), (), ()],
            &[vec![], vec![], vec![0]],
            2,
            &AtomicBool::new(false),
            |node, _, _| {
                if node == 0 {
                    panic!("job exploded");
                }
            },
            |_| false,
        )
        .unwrap();
    }
}
