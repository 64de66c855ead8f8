//! Runs a DAG of jobs on a fixed pool of worker threads.
//!
//! The pool is crossbeam's work-stealing deques: ready nodes start in a shared
//! [`Injector`]; a worker that finishes a node pushes the nodes it releases
//! onto its own deque and takes the next one from there, so a chain of quick
//! jobs (cache replays) stays on one thread and costs no hand-offs, while idle
//! workers steal from the injector and from each other. A worker that finds
//! nothing parks ([`Parker`]) until a busy one releases more than it takes
//! itself, or the last job ends. The calling thread is a worker too. With one
//! worker there is no pool: the calling thread runs the lowest ready node
//! each time, so a deterministic job gives a deterministic order.
//!
//! Everything is built before the threads start and the threads live inside
//! [`std::thread::scope`], so jobs may borrow freely. A node runs once all
//! its upstream nodes are done and none failed; a failure skips everything
//! downstream of it. A stop flag (Ctrl-C) lets running jobs finish but starts
//! nothing new.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{self, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::sync::{Parker, Unparker};
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
    let seeds: Vec<usize> = (0..nodes.len()).filter(|&n| plan.waiting[n] == 0).collect();
    let dag = Dag {
        nodes,
        waiting: plan.waiting.iter().map(|&w| AtomicUsize::new(w)).collect(),
        downstream: plan.downstream,
        stop,
        job: &job,
        failed: &failed,
        failures: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
        panic: Mutex::new(None),
    };
    let runs = if workers == 1 {
        vec![dag.alone(seeds)]
    } else {
        Pool::run(&dag, seeds, workers)
    };
    let Dag {
        downstream, panic, ..
    } = dag;
    if let Some(payload) = panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
        panic::resume_unwind(payload);
    }
    let mut results: Vec<Option<NodeResult<R>>> = (0..nodes.len()).map(|_| None).collect();
    let mut failures = Vec::new();
    for ran in runs.into_iter().flatten() {
        if let Some(order) = ran.failure {
            failures.push((order, ran.node));
        }
        results[ran.node] = Some(NodeResult::Done(ran.result));
    }
    // In the order the failures happened: a node downstream of two names
    // the first.
    failures.sort_unstable();
    for (_, node) in failures {
        skip_downstream(node, &downstream, &mut results);
    }
    // Whatever is still open never started because of the stop flag.
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or(NodeResult::Stopped))
        .collect())
}

/// A job that ran, as its worker keeps it until the end.
struct Ran<R> {
    node: usize,
    result: R,
    /// The order of its failure among all failures, when it failed.
    failure: Option<usize>,
}

/// The graph and the job, shared by the workers.
struct Dag<'a, T, J, F> {
    nodes: &'a [T],
    /// Upstream edges of each node not done yet; the worker that takes one
    /// to zero releases the node.
    waiting: Vec<AtomicUsize>,
    downstream: Vec<Vec<usize>>,
    stop: &'a AtomicBool,
    job: &'a J,
    failed: &'a F,
    /// Failures so far, which numbers them.
    failures: AtomicUsize,
    panicked: AtomicBool,
    /// The first panic of a job, resumed on the calling thread.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl<T, R, J, F> Dag<'_, T, J, F>
where
    T: Sync,
    R: Send,
    J: Fn(usize, &T, usize) -> R + Sync,
    F: Fn(&R) -> bool + Sync,
{
    /// Whether nothing may start any more (stop flag, or a job panicked).
    fn halted(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.panicked.load(Ordering::SeqCst)
    }

    /// Runs `node` on `worker` unless halted, records it in `ran`, and
    /// appends the nodes its success makes ready to `released`.
    fn step(&self, node: usize, worker: usize, ran: &mut Vec<Ran<R>>, released: &mut Vec<usize>) {
        if self.halted() {
            return;
        }
        // Caught so the other workers hear about it instead of waiting
        // forever for this node.
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            (self.job)(node, &self.nodes[node], worker)
        }));
        let result = match outcome {
            Ok(result) => result,
            Err(payload) => {
                self.panic
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(payload);
                self.panicked.store(true, Ordering::SeqCst);
                return;
            }
        };
        let failure = if (self.failed)(&result) {
            Some(self.failures.fetch_add(1, Ordering::SeqCst))
        } else {
            if !self.halted() {
                for &down in &self.downstream[node] {
                    // AcqRel: the released job sees everything its upstream
                    // jobs did.
                    if self.waiting[down].fetch_sub(1, Ordering::AcqRel) == 1 {
                        released.push(down);
                    }
                }
            }
            None
        };
        ran.push(Ran {
            node,
            result,
            failure,
        });
    }

    /// One worker: the calling thread takes the lowest ready node each time.
    fn alone(&self, seeds: Vec<usize>) -> Vec<Ran<R>> {
        let mut ready: BTreeSet<usize> = seeds.into_iter().collect();
        let mut ran = Vec::new();
        let mut released = Vec::new();
        while let Some(node) = ready.pop_first() {
            if self.halted() {
                break;
            }
            self.step(node, 1, &mut ran, &mut released);
            ready.extend(released.drain(..));
        }
        ran
    }
}

/// The work-stealing pool of two or more workers.
struct Pool {
    /// The nodes ready from the start, in index order.
    injector: Injector<usize>,
    /// Every worker's deque, for the others to steal from.
    stealers: Vec<Stealer<usize>>,
    unparkers: Vec<Unparker>,
    /// Workers parked or about to park; `sleeping` is its length, read
    /// without the lock by workers that might have to wake one.
    idle: Mutex<Vec<usize>>,
    sleeping: AtomicUsize,
    /// Nodes queued or running. The worker that takes it to zero ends the
    /// run: nothing runs and nothing can start.
    active: AtomicUsize,
}

impl Pool {
    fn run<T, R, J, F>(
        dag: &Dag<'_, T, J, F>,
        seeds: Vec<usize>,
        workers: usize,
    ) -> Vec<Vec<Ran<R>>>
    where
        T: Sync,
        R: Send,
        J: Fn(usize, &T, usize) -> R + Sync,
        F: Fn(&R) -> bool + Sync,
    {
        let deques: Vec<Worker<usize>> = (0..workers).map(|_| Worker::new_lifo()).collect();
        let parkers: Vec<Parker> = (0..workers).map(|_| Parker::new()).collect();
        let pool = Pool {
            injector: Injector::new(),
            stealers: deques.iter().map(Worker::stealer).collect(),
            unparkers: parkers.iter().map(|p| p.unparker().clone()).collect(),
            idle: Mutex::new(Vec::with_capacity(workers)),
            sleeping: AtomicUsize::new(0),
            active: AtomicUsize::new(seeds.len()),
        };
        seeds.into_iter().for_each(|node| pool.injector.push(node));
        let pool = &pool;
        thread::scope(|scope| {
            let mut mine = Vec::with_capacity(1);
            let mut others = Vec::with_capacity(workers - 1);
            for (index, (deque, parker)) in deques.into_iter().zip(parkers).enumerate() {
                if index == 0 {
                    mine.push((deque, parker));
                } else {
                    others.push(scope.spawn(move || pool.work(dag, index, deque, parker)));
                }
            }
            let (deque, parker) = mine.pop().expect("two or more workers");
            let mut runs = vec![pool.work(dag, 0, deque, parker)];
            for other in others {
                // Jobs' panics are caught; this is a bug in the pool itself.
                runs.push(other.join().unwrap_or_else(|p| panic::resume_unwind(p)));
            }
            runs
        })
    }

    /// Worker `index` (id `index + 1`) until the run ends.
    fn work<T, R, J, F>(
        &self,
        dag: &Dag<'_, T, J, F>,
        index: usize,
        deque: Worker<usize>,
        parker: Parker,
    ) -> Vec<Ran<R>>
    where
        T: Sync,
        R: Send,
        J: Fn(usize, &T, usize) -> R + Sync,
        F: Fn(&R) -> bool + Sync,
    {
        let mut ran = Vec::new();
        let mut released = Vec::new();
        loop {
            if let Some(node) = self.find(&deque) {
                dag.step(node, index + 1, &mut ran, &mut released);
                if !released.is_empty() {
                    // This worker takes one; the rest is for sleepers. Counted
                    // before pushing: once pushed, other workers may steal
                    // them, and the deque may be empty again by the time it
                    // is looked at.
                    let for_others = released.len() - 1;
                    self.active.fetch_add(released.len(), Ordering::SeqCst);
                    // Lowest index on top: taken next by this worker.
                    released.drain(..).rev().for_each(|down| deque.push(down));
                    self.wake(for_others);
                }
                if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
                    self.wake(usize::MAX);
                    return ran;
                }
                continue;
            }
            // Nothing found: announce the nap, then look once more, so a
            // node pushed meanwhile either is seen here or wakes this worker.
            self.lock_idle().push(index);
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            atomic::fence(Ordering::SeqCst);
            let done = self.active.load(Ordering::SeqCst) == 0;
            if !done && !self.anything_queued() {
                parker.park();
            }
            let mut idle = self.lock_idle();
            if let Some(at) = idle.iter().position(|&i| i == index) {
                idle.swap_remove(at);
                self.sleeping.fetch_sub(1, Ordering::SeqCst);
            }
            drop(idle);
            if done {
                return ran;
            }
        }
    }

    /// The next node: from this worker's deque, else the injector, else
    /// another worker's deque.
    fn find(&self, deque: &Worker<usize>) -> Option<usize> {
        deque.pop().or_else(|| {
            std::iter::repeat_with(|| {
                self.injector
                    .steal()
                    .or_else(|| self.stealers.iter().map(Stealer::steal).collect())
            })
            .find(|steal| !steal.is_retry())
            .and_then(Steal::success)
        })
    }

    fn anything_queued(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Wakes up to `count` parked workers.
    fn wake(&self, count: usize) {
        if count == 0 {
            return;
        }
        // Pairs with the sleeper's fence: either it sees the pushed node, or
        // this sees it registered.
        atomic::fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut idle = self.lock_idle();
        for _ in 0..count {
            let Some(index) = idle.pop() else { break };
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            self.unparkers[index].unpark();
        }
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<usize>> {
        // Nothing panics while holding it.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
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
    fn released_nodes_wake_a_parked_worker() {
        // Worker 2 finds nothing at first and parks; 0 releases 1 and 2,
        // which must then run at once.
        let spans = Mutex::new(BTreeMap::new());
        run_dag(
            &[(), (), ()],
            &[vec![], vec![0], vec![0]],
            2,
            &AtomicBool::new(false),
            |node, _, _| {
                let start = Instant::now();
                thread::sleep(Duration::from_millis(if node == 0 { 50 } else { 300 }));
                spans.lock().unwrap().insert(node, (start, Instant::now()));
            },
            |_| false,
        )
        .unwrap();
        let spans = spans.into_inner().unwrap();
        let ((start1, end1), (start2, end2)) = (spans[&1], spans[&2]);
        assert!(start1 < end2 && start2 < end1, "both ran at once");
    }

    #[test]
    fn every_node_runs_once_after_its_upstream_on_many_workers() {
        // Fan-out and fan-in of quick jobs, many times over: a lost wakeup
        // would hang, a double release would run a node twice.
        let n = 300;
        let upstream: Vec<Vec<usize>> = (0..n)
            .map(|i: usize| {
                [i / 2, i / 3, i.saturating_sub(5)]
                    .into_iter()
                    .filter(|&u| u < i)
                    .collect()
            })
            .collect();
        for workers in [2, 3, 8] {
            for _ in 0..20 {
                let runs: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                let results = run_dag(
                    &vec![(); n],
                    &upstream,
                    workers,
                    &AtomicBool::new(false),
                    |node, _, _| {
                        for &up in &upstream[node] {
                            assert_eq!(runs[up].load(Ordering::SeqCst), 1, "{up} before {node}");
                        }
                        runs[node].fetch_add(1, Ordering::SeqCst);
                    },
                    |_| false,
                )
                .unwrap();
                assert!(results.iter().all(|r| r.done().is_some()));
                assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == 1));
            }
        }
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
