//! The owner of the server's background loops (relist, rules reload, serving-certificate reload,
//! trust refresh). Each loop runs forever; one that ends, by returning or by panicking, is a
//! bug or a dead dependency, so the supervisor notices: `/readyz` fails from then on, naming it,
//! and when the loop is essential the server shuts down and the process exits non-zero, for
//! Kubernetes to restart it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use tokio::task::JoinSet;

/// Whether the process can go on without a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    /// The server stops when it ends (metrics would go stale, rules would never change again).
    Essential,
    /// The server goes on, not ready (the current certificate or trust settings keep working).
    Degrades,
}

/// How a loop ended.
struct Ended {
    name: &'static str,
    importance: Importance,
    panicked: bool,
}

/// The loops, and the names of those that ended.
pub struct Supervisor {
    loops: JoinSet<Ended>,
    ended: Arc<Mutex<Vec<&'static str>>>,
}

/// Read access to which loops ended, for `/readyz`.
#[derive(Clone)]
pub struct LoopHealth(Arc<Mutex<Vec<&'static str>>>);

impl LoopHealth {
    /// The loops that ended; empty while every loop runs.
    pub fn ended(&self) -> Vec<&'static str> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor {
            loops: JoinSet::new(),
            ended: Arc::default(),
        }
    }
}

impl Supervisor {
    /// Which loops ended, for `/readyz`.
    pub fn health(&self) -> LoopHealth {
        LoopHealth(self.ended.clone())
    }

    /// Run `task`, a loop that should never end.
    pub fn spawn(
        &mut self,
        name: &'static str,
        importance: Importance,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.loops.spawn(async move {
            let panicked = AssertUnwindSafe(task).catch_unwind().await.is_err();
            Ended {
                name,
                importance,
                panicked,
            }
        });
    }

    /// Resolves with the name of the first essential loop that ends; loops that only degrade
    /// the server are recorded (readiness fails) and watched on. Never resolves while every
    /// essential loop runs.
    pub async fn essential_loop_ended(&mut self) -> &'static str {
        loop {
            let Some(joined) = self.loops.join_next().await else {
                return std::future::pending().await;
            };
            let Ok(ended) = joined else {
                // Aborted: only `stop` aborts, after the server is done.
                continue;
            };
            let how = if ended.panicked { "panicked" } else { "ended" };
            tracing::error!(
                background_loop = ended.name,
                "a background loop {how}; the server is not ready from now on"
            );
            self.ended
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(ended.name);
            if ended.importance == Importance::Essential {
                return ended.name;
            }
        }
    }

    /// Stop every loop.
    pub fn stop(&mut self) {
        self.loops.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_ended_loop_fails_readiness_and_an_essential_one_stops_the_server() {
        let mut supervisor = Supervisor::default();
        let health = supervisor.health();
        supervisor.spawn("forever", Importance::Essential, std::future::pending());
        supervisor.spawn("certificate reload", Importance::Degrades, async {});
        supervisor.spawn("relist", Importance::Essential, async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            panic!("a bug in the relist");
        });
        assert!(health.ended().is_empty() || health.ended() == ["certificate reload"]);
        let ended = supervisor.essential_loop_ended().await;
        assert_eq!(ended, "relist");
        assert_eq!(health.ended(), ["certificate reload", "relist"]);
        supervisor.stop();
    }

    #[tokio::test]
    async fn while_every_loop_runs_nothing_happens() {
        let mut supervisor = Supervisor::default();
        supervisor.spawn("forever", Importance::Essential, std::future::pending());
        let waited =
            tokio::time::timeout(Duration::from_millis(50), supervisor.essential_loop_ended())
                .await;
        assert!(waited.is_err());
        assert!(supervisor.health().ended().is_empty());
    }
}
