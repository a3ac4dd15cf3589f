//! Supervision of long-running tasks (stage consumers, the outbox relay, the
//! watchdog): a task that returns an error, returns at all, or panics is
//! logged at ERROR, counted, marked not running for `/readyz`, and started
//! again with backoff — an OTP supervisor's one-for-one restart in tokio.
//! A task that ends with `RestartAtOnce` asked for its restart (it has
//! already waited what it needed): it is counted and logged the same, and
//! started again at once with its backoff started over.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::telemetry::events::{TaskFailed, TaskStarted, TaskStopped};
use crate::telemetry::labels::Task;
use crate::telemetry::{Emit, Metrics};

/// First restart delay; doubled per consecutive failure up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// A dependency that stays down is retried twice a minute: often enough to
/// resume within 30 s of its return, rarely enough not to flood the logs.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A task that ran this long before failing starts its backoff over.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// The error of a task that ends to be started again at once: a planned
/// restart (a stage consumer that left its group starved and waited for
/// the broker to forget it), not a failure whose cause may still be there.
/// Under the doubling backoff, a consumer starved over and over would wait
/// 2, 4, 8 … 30 s more before each new try.
#[derive(Debug)]
pub struct RestartAtOnce(pub String);

impl std::fmt::Display for RestartAtOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RestartAtOnce {}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TaskStatus {
    pub running: bool,
    pub restarts: u64,
    /// Why it last ended, while it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it runs but cannot do its job (a stage consumer that nobody's
    /// messages reach): not ready either.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The supervised tasks of this process: whether each is running, and the
/// handle that injects a failure into it.
#[derive(Clone, Default)]
pub struct Health {
    tasks: Arc<Mutex<BTreeMap<&'static str, Supervised>>>,
}

struct Supervised {
    status: TaskStatus,
    /// Wakes the supervisor to end the running incarnation.
    fault: Arc<Notify>,
}

impl Health {
    /// Ends `task`'s running incarnation as if it had failed (it is then
    /// restarted like any failed task): for fault-injection tests, and for
    /// an operator forcing a wedged task to start over. `false` when no
    /// such task is supervised here.
    pub fn inject_failure(&self, task: &str) -> bool {
        let tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tasks.iter().find(|(name, _)| **name == task).map(|(_, t)| t.fault.notify_one()).is_some()
    }

    /// Registers `task` (not running yet) and returns its fault handle.
    fn register(&self, task: Task) -> Arc<Notify> {
        let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = tasks.entry(task.as_str()).or_insert_with(|| Supervised {
            status: TaskStatus { running: false, restarts: 0, error: None, problem: None },
            fault: Arc::default(),
        });
        entry.fault.clone()
    }

    /// Marks `task` unable to do its job (`Some(why)`), or able again
    /// (`None`); a restart clears it too.
    pub fn set_problem(&self, task: Task, problem: Option<String>) {
        self.update(task, |s| s.problem = problem);
    }

    fn update(&self, task: Task, change: impl FnOnce(&mut TaskStatus)) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(t) = tasks.get_mut(task.as_str()) {
            change(&mut t.status);
        }
    }

    /// Every task and its status; `true` when all of them are running
    /// and none has a problem.
    pub fn report(&self) -> (bool, BTreeMap<&'static str, TaskStatus>) {
        let tasks = self.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let statuses: BTreeMap<_, _> = tasks.iter().map(|(name, t)| (*name, t.status.clone())).collect();
        (statuses.values().all(|t| t.running && t.problem.is_none()), statuses)
    }
}

/// Spawns supervised tasks that share one `Health`, metrics and shutdown.
#[derive(Clone)]
pub struct Supervisor {
    pub health: Health,
    metrics: Metrics,
    shutdown: CancellationToken,
}

impl Supervisor {
    pub fn new(metrics: Metrics, shutdown: CancellationToken) -> Self {
        Self { health: Health::default(), metrics, shutdown }
    }

    /// `supervise(task, …, start)` on its own tokio task.
    pub fn spawn<F, Fut>(&self, task: Task, start: F) -> tokio::task::JoinHandle<anyhow::Result<()>>
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        tokio::spawn(supervise(task, self.health.clone(), self.metrics.clone(), self.shutdown.clone(), start))
    }
}

/// Runs `start()` under supervision until `shutdown`. `task` names it in
/// logs, `/readyz` and the `task` label.
pub async fn supervise<F, Fut>(
    task: Task,
    health: Health,
    metrics: Metrics,
    shutdown: CancellationToken,
    mut start: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut backoff = FIRST_BACKOFF;
    let fault = health.register(task);
    loop {
        health.update(task, |s| {
            s.running = true;
            s.error = None;
            s.problem = None;
        });
        TaskStarted { task }.emit(&metrics);
        let started = Instant::now();
        // Spawned, so a panic is a JoinError here instead of unwinding us;
        // aborted with us, so aborting a supervisor (a simulated crash)
        // leaves nothing of its task behind.
        let mut running = tokio::spawn(start());
        let _abort_with_us = AbortOnDrop(running.abort_handle());
        let outcome = tokio::select! {
            joined = &mut running => joined,
            _ = fault.notified() => {
                running.abort();
                let _ = running.await;
                Ok(Err(anyhow::anyhow!("failure injected")))
            }
        };
        TaskStopped { task }.emit(&metrics);
        if shutdown.is_cancelled() {
            if let Ok(Err(error)) | Err(error) = outcome.map_err(anyhow::Error::from) {
                tracing::warn!(task = task.as_str(), error = %format!("{error:#}"), "Task ended with an error while stopping.");
            }
            health.update(task, |s| s.running = false);
            return Ok(());
        }
        let planned = matches!(&outcome, Ok(Err(error)) if error.is::<RestartAtOnce>());
        let error = match outcome {
            Ok(Ok(())) => "ended without being asked to stop".to_owned(),
            Ok(Err(error)) => format!("{error:#}"),
            Err(join) if join.is_panic() => format!("panicked: {}", panic_message(join.into_panic())),
            Err(join) => join.to_string(),
        };
        if planned || started.elapsed() >= STABLE_AFTER {
            backoff = FIRST_BACKOFF;
        }
        let restart_in = if planned { Duration::ZERO } else { backoff };
        health.update(task, |s| {
            s.running = false;
            s.restarts += 1;
            s.error = Some(error.clone());
            s.problem = None;
        });
        TaskFailed { task, error: &error, restart_in }.emit(&metrics);
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(restart_in) => {}
        }
        if !planned {
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or `String`).
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(|| "unknown panic".to_owned(), |s| (*s).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A supervised relay task whose `n`th start ends as `ending(n)` says
    /// (an error, a panic, or `None`: it runs until shutdown).
    struct Supervised {
        health: Health,
        metrics: Metrics,
        shutdown: CancellationToken,
        starts: Arc<AtomicUsize>,
        supervisor: tokio::task::JoinHandle<anyhow::Result<()>>,
    }

    fn supervised_relay(ending: fn(usize) -> Option<anyhow::Error>) -> Supervised {
        let (health, metrics, shutdown) = (Health::default(), Metrics::new(), CancellationToken::new());
        let starts = Arc::new(AtomicUsize::new(0));
        let (counted, stop) = (starts.clone(), shutdown.clone());
        let supervisor =
            tokio::spawn(supervise(Task::Relay, health.clone(), metrics.clone(), shutdown.clone(), move || {
                let (n, stop) = (counted.fetch_add(1, Ordering::SeqCst), stop.clone());
                async move {
                    match ending(n) {
                        Some(error) => Err(error),
                        None => {
                            stop.cancelled().await;
                            Ok(())
                        }
                    }
                }
            }));
        Supervised { health, metrics, shutdown, starts, supervisor }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_task_is_restarted_and_reported_down_meanwhile() {
        let Supervised { health, metrics, shutdown, starts, supervisor } = supervised_relay(|n| match n {
            0 => Some(anyhow::anyhow!("injected failure")),
            1 => panic!("injected panic"),
            _ => None,
        });
        // After the first failure the task is down for its 1 s backoff.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (ready, tasks) = health.report();
        assert!(!ready);
        assert_eq!(tasks["relay"].error.as_deref(), Some("injected failure"));
        // 1 s later it restarted, panicked, and is down for 2 s.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(health.report().1["relay"].error.as_deref(), Some("panicked: injected panic"));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (ready, tasks) = health.report();
        assert!(ready, "{tasks:?}");
        assert_eq!((starts.load(Ordering::SeqCst), tasks["relay"].restarts), (3, 2));
        assert!(metrics.encode().contains("orakgarak_task_restarts_total{task=\"relay\"} 2"));
        // An injected failure ends the running incarnation; it comes back.
        assert!(!health.inject_failure("no-such-task"));
        assert!(health.inject_failure("relay"));
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(health.report().1["relay"].error.as_deref(), Some("failure injected"));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!((health.report().0, starts.load(Ordering::SeqCst)), (true, 4));
        shutdown.cancel();
        supervisor.await.expect("joins").expect("stops cleanly");
        assert!(!health.report().0, "a stopped task is not running");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_asks_to_restart_is_started_again_at_once_and_its_backoff_starts_over() {
        let began = tokio::time::Instant::now();
        // Two failures (backoff 1 s, then 2 s), then three planned
        // restarts, then a failure: 1 s again.
        let Supervised { health, metrics, shutdown, starts, supervisor } = supervised_relay(|n| match n {
            0 | 1 | 5 => Some(anyhow::anyhow!("injected failure")),
            2..=4 => Some(RestartAtOnce("starved; joining again".into()).into()),
            _ => None,
        });
        while starts.load(Ordering::SeqCst) < 7 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // 1 + 2 s for the failures, nothing for the planned restarts, 1 s
        // (not 4) for the failure after them.
        let took = began.elapsed();
        assert!(took >= Duration::from_secs(4) && took < Duration::from_millis(4100), "{took:?}");
        let status = &health.report().1["relay"];
        assert_eq!(status.restarts, 6, "planned restarts are counted as restarts");
        assert!(metrics.encode().contains("orakgarak_task_restarts_total{task=\"relay\"} 6"));
        shutdown.cancel();
        supervisor.await.expect("joins").expect("stops cleanly");
    }

    #[tokio::test]
    async fn aborting_the_supervisor_aborts_its_task_as_a_crash_would() {
        struct Dropped(Arc<AtomicUsize>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let seen = dropped.clone();
        let (health, shutdown) = (Health::default(), CancellationToken::new());
        let supervisor = tokio::spawn(supervise(Task::Relay, health.clone(), Metrics::new(), shutdown, move || {
            let guard = Dropped(seen.clone());
            async move {
                let _guard = guard;
                std::future::pending::<anyhow::Result<()>>().await
            }
        }));
        while !health.report().1.get("relay").is_some_and(|t| t.running) {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await; // let the task start
        supervisor.abort();
        let _ = supervisor.await;
        for _ in 0..100 {
            if dropped.load(Ordering::SeqCst) == 1 {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the supervised task outlived its aborted supervisor");
    }
}
