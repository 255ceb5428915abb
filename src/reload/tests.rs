use super::*;

const A: &str =
    "rules:\n- seriesQuery: a\n  resources: {template: <<.Resource>>}\n  metricsQuery: x\n";
const B: &str =
    "rules:\n- seriesQuery: b\n  resources: {template: <<.Resource>>}\n  metricsQuery: x\n";

#[tokio::test]
async fn changes_reload_refusals_keep_the_previous_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, A).unwrap();
    let (mut source, rules) = ConfigSource::open(&path).await.unwrap();
    assert_eq!(rules.custom[0].series_query, "a");
    assert!(matches!(source.poll(false).await, Poll::Unchanged));
    assert!(matches!(source.poll(true).await, Poll::Reloaded(_)));
    std::fs::write(&path, B).unwrap();
    match source.poll(false).await {
        Poll::Reloaded(r) => assert_eq!(r.custom[0].series_query, "b"),
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, "rules: [\n").unwrap();
    match source.poll(false).await {
        Poll::Refused(e) => assert!(e.to_string().contains("config.yaml:2:"), "{e}"),
        other => panic!("{other:?}"),
    }
    // The same refused content is not reported again.
    assert!(matches!(source.poll(false).await, Poll::Unchanged));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(source.poll(false).await, Poll::Refused(_)));
    assert!(matches!(source.poll(false).await, Poll::Unchanged));
    assert!(ConfigSource::open(&path).await.is_err());
    std::fs::write(&path, A).unwrap();
    assert!(matches!(source.poll(false).await, Poll::Reloaded(_)));
    // Forgotten content is applied again.
    source.forget();
    assert!(matches!(source.poll(false).await, Poll::Reloaded(_)));
}

#[tokio::test]
async fn a_reload_to_no_rules_at_all_is_refused_unless_the_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, A).unwrap();
    let (mut source, _) = ConfigSource::open(&path).await.unwrap();
    for empty in ["", "# all rules moved elsewhere\n", "---\n"] {
        std::fs::write(&path, empty).unwrap();
        match source.poll(false).await {
            Poll::Refused(e) => {
                assert!(e.to_string().contains("no rules at all"), "{empty:?}: {e}")
            }
            other => panic!("{empty:?}: {other:?}"),
        }
    }
    for on_purpose in ["rules: []\n", "externalRules: []\n"] {
        std::fs::write(&path, on_purpose).unwrap();
        match source.poll(false).await {
            Poll::Reloaded(rules) => assert!(rules.is_empty()),
            other => panic!("{on_purpose:?}: {other:?}"),
        }
    }
    // At start-up an empty file serves nothing, as upstream's does.
    std::fs::write(&path, "").unwrap();
    let (_, rules) = ConfigSource::open(&path).await.unwrap();
    assert!(rules.is_empty());
}

#[tokio::test]
async fn a_file_that_blocks_on_read_does_not_block_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, A).unwrap();
    let (mut source, _) = ConfigSource::open_with_timeout(&path, Duration::from_millis(200))
        .await
        .unwrap();
    // Replace the file by a FIFO nobody writes to: reading it blocks.
    std::fs::remove_file(&path).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    // Other tasks of this (single-threaded) runtime run while the read is stuck.
    let ticks = tokio::spawn(async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    match source.poll(false).await {
        Poll::Refused(e) => assert!(e.to_string().contains("could not be read within"), "{e}"),
        other => panic!("{other:?}"),
    }
    ticks.await.unwrap();
    // The stuck read is waited on again, not started twice, and reported once.
    assert!(matches!(source.poll(false).await, Poll::Unchanged));
    // A writer finally shows up: the stuck read completes with what it wrote.
    let writer = std::thread::spawn({
        let path = path.clone();
        move || std::fs::write(path, B)
    });
    let mut reloaded = None;
    for _ in 0..50 {
        match source.poll(false).await {
            Poll::Reloaded(r) => {
                reloaded = Some(r);
                break;
            }
            Poll::Unchanged => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        reloaded.expect("the file is read once written").custom[0].series_query,
        "b"
    );
    writer.join().unwrap().unwrap();
}
