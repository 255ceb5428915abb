//! Polling a future so that the wake-ups it causes itself do not leave its task.
//!
//! Tokio queues a task woken while it runs as if it had yielded: behind the other tasks, and
//! with the other worker thread woken to help. A connection that hands an answer to the task
//! polling it through an in-memory channel (hyper's HTTP/1 client driven in its caller's task,
//! an HTTP/2 stream's task handing its answer to h2) wakes that very task, so each request paid
//! a wake-up of the other worker, a poll for nothing, and often a move of its task to the other
//! thread. Polled through [`InTask`], a wake-up that arrives while the future is being polled
//! is another turn of the same poll; one that arrives outside (a socket became readable) wakes
//! the task as usual.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// Turns of one poll before a wake-up during every turn counts as a yield (tokio's budget
/// running out, hyper handing back after a long read): the task is then woken and the poll
/// ends, as it would have without this.
const MAX_TURNS: usize = 4;

/// The waker a future is polled with, and what it saw.
#[derive(Clone)]
pub(crate) struct InTask {
    state: Arc<Wakes>,
    waker: Waker,
}

#[derive(Default)]
struct Wakes {
    task: AtomicWaker,
    polling: AtomicBool,
    woken: AtomicBool,
}

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Set first: a poll ending concurrently either sees it and turns again, or has ended,
        // and then the task is woken.
        self.woken.store(true, Ordering::SeqCst);
        if !self.polling.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

impl InTask {
    pub(crate) fn new() -> InTask {
        let state = Arc::new(Wakes::default());
        InTask {
            waker: Waker::from(state.clone()),
            state,
        }
    }

    /// Poll `f` until it is ready or nothing woke it during its last turn (at most
    /// [`MAX_TURNS`] turns).
    pub(crate) fn poll<T>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.state.task.register(cx.waker());
        let mut own = Context::from_waker(&self.waker);
        for _ in 0..MAX_TURNS {
            self.state.woken.store(false, Ordering::SeqCst);
            self.state.polling.store(true, Ordering::SeqCst);
            let result = f(&mut own);
            self.state.polling.store(false, Ordering::SeqCst);
            if result.is_ready() || !self.state.woken.swap(false, Ordering::SeqCst) {
                return result;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A future polled through [`InTask`].
pub(crate) struct Turns<F> {
    future: Pin<Box<F>>,
    in_task: InTask,
}

impl<F: Future> Turns<F> {
    pub(crate) fn new(future: F) -> Turns<F> {
        Turns {
            future: Box::pin(future),
            in_task: InTask::new(),
        }
    }
}

impl<F: Future> Future for Turns<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let future = &mut this.future;
        this.in_task.poll(cx, |cx| future.as_mut().poll(cx))
    }
}

/// Hyper's executor for the tasks of HTTP/2 streams: each runs as [`Turns`] on the runtime.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Executor;

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(Turns::new(future));
    }
}

#[cfg(test)]
mod tests;
