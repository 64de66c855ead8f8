//! Running runnables: processes and the DAG scheduler.
