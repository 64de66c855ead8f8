//! Running things: one shell command at a time ([`run_process`]) and many
//! jobs in dependency order on a worker pool ([`run_dag`]).
//!
//! Both pieces are generic on purpose: they know nothing of runnables, caches
//! or hashes, so they can be tested with real processes and plain closures.
//! The engine wires them together: its DAG job hashes, looks up caches, and
//! calls [`run_process`] on a miss; [`Interrupt::flag`] doubles as the DAG's
//! stop flag so Ctrl-C both kills running commands and starts no new ones.

#[cfg(unix)]
mod process;
mod schedule;

#[cfg(unix)]
pub use process::{
    Interrupt, InterruptError, MAX_LINE, ProcessError, ProcessResult, ProcessSpec, run_process,
};
pub use schedule::{NodeResult, ScheduleError, run_dag};
