use super::*;

fn activity(age: Duration, in_flight: usize, served: usize, last_change_ago: Duration) -> Activity {
    let started = Instant::now() - age;
    let last = age.saturating_sub(last_change_ago);
    Activity {
        started,
        in_flight: AtomicUsize::new(in_flight),
        served: AtomicUsize::new(served),
        last_change_ms: AtomicU64::new(last.as_millis() as u64),
    }
}

const IDLE: Duration = Duration::from_secs(90);

#[test]
fn connections_close_when_idle_too_long() {
    let s = Duration::from_secs;
    // Busy, or idle for less than the idle timeout: keep serving.
    assert!(!should_close(&activity(s(600), 1, 5, s(300)), false, IDLE));
    assert!(!should_close(&activity(s(600), 0, 5, s(30)), false, IDLE));
    // Never sent a request (a client holding a connection open), or idle since: close.
    assert!(should_close(&activity(s(100), 0, 0, s(100)), false, IDLE));
    assert!(should_close(&activity(s(600), 0, 5, s(91)), false, IDLE));
}

#[test]
fn on_shutdown_only_a_brand_new_connection_waits_for_its_first_request() {
    let s = Duration::from_secs;
    // Requests in flight: close gracefully (they finish first).
    assert!(should_close(&activity(s(60), 2, 1, s(1)), true, IDLE));
    // Idle, or a slow client still sending headers: close now.
    assert!(should_close(&activity(s(60), 0, 3, s(1)), true, IDLE));
    assert!(should_close(&activity(s(60), 0, 0, s(60)), true, IDLE));
    // Accepted a moment ago, no request yet: it may send one.
    assert!(!should_close(
        &activity(Duration::from_millis(300), 0, 0, Duration::from_millis(300)),
        true,
        IDLE
    ));
}

#[test]
fn a_request_counts_until_its_guard_is_dropped() {
    let activity = Activity::new();
    let guard = activity.begin();
    assert_eq!(activity.idle_for(), None);
    drop(guard);
    assert!(activity.idle_for().is_some());
    assert_eq!(activity.served.load(Ordering::SeqCst), 1);
}
