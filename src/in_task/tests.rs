use std::sync::atomic::AtomicUsize;

use super::*;

/// A task's waker that counts its wake-ups.
#[derive(Default)]
struct Counting(AtomicUsize);

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_wake_up_during_the_poll_is_another_turn_and_one_after_it_wakes_the_task() {
    let task = Arc::new(Counting::default());
    let waker = Waker::from(task.clone());
    let mut cx = Context::from_waker(&waker);
    let in_task = InTask::new();

    // Woken by its own doing on the first turn, ready on the second: the task is not woken.
    let mut turns = 0;
    let mut stored = None;
    let result = in_task.poll(&mut cx, |cx| {
        turns += 1;
        stored = Some(cx.waker().clone());
        if turns == 1 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(turns)
        }
    });
    assert_eq!(result, Poll::Ready(2));
    assert_eq!(task.0.load(Ordering::SeqCst), 0);

    // A waker kept from a poll and woken afterwards (the socket became readable) wakes the task.
    stored.unwrap().wake();
    assert_eq!(task.0.load(Ordering::SeqCst), 1);

    // Pending without a wake-up: one turn, no wake.
    let mut turns = 0;
    let result: Poll<()> = in_task.poll(&mut cx, |_| {
        turns += 1;
        Poll::Pending
    });
    assert_eq!((result, turns), (Poll::Pending, 1));
    assert_eq!(task.0.load(Ordering::SeqCst), 1);

    // Woken on every turn (a yield): a bounded number of turns, then the task is woken.
    let mut turns = 0;
    let result: Poll<()> = in_task.poll(&mut cx, |cx| {
        turns += 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    });
    assert_eq!((result, turns), (Poll::Pending, MAX_TURNS));
    assert_eq!(task.0.load(Ordering::SeqCst), 2);
}

#[test]
fn a_future_that_wakes_itself_finishes_in_one_poll_of_its_task() {
    let task = Arc::new(Counting::default());
    let waker = Waker::from(task.clone());
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    let mut future = Turns::new(std::future::poll_fn(move |cx| {
        polls += 1;
        if polls < 3 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(polls)
        }
    }));
    assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(3));
    assert_eq!(task.0.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_spawned_by_the_executor_run_to_completion_when_woken_from_elsewhere() {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let (done, finished) = tokio::sync::oneshot::channel();
    hyper::rt::Executor::execute(&Executor, async move {
        let value = receiver.await.unwrap();
        done.send(value + 1).unwrap();
    });
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    sender.send(41).unwrap();
    assert_eq!(finished.await.unwrap(), 42);
}
